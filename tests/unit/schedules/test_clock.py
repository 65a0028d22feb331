"""The schedules' clock: the wall clock, or a faster one the end-to-end tests run days of schedule on."""

from __future__ import annotations

import datetime as dt

import pytest

from redisbackup.workflows.clock import WallClock, parse_clock

SINCE = dt.datetime(2026, 12, 7, 5, 44, tzinfo=dt.UTC)


def test_the_wall_clock_keeps_kubernetes_timestamps_as_they_are() -> None:
    instant = SINCE + dt.timedelta(seconds=50)
    assert WallClock().at(instant) == instant
    assert abs(WallClock().now() - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)


def test_a_faster_clock_maps_a_creation_timestamp_onto_its_own_timeline() -> None:
    # A schedule created 50 wall-clock seconds after `since` was created 50 minutes into a rate-60 timeline: not
    # "long ago", which would make it run at once a slot from before it existed.
    clock = parse_clock("rate=60,since=2026-12-07T05:44:00Z")
    created = SINCE + dt.timedelta(seconds=50)
    assert clock.at(created) == SINCE + dt.timedelta(minutes=50)
    assert clock.at(SINCE) == SINCE
    assert clock.now() > clock.at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))


@pytest.mark.parametrize("text", ["rate=60", "since=2026-12-07T05:44:00Z", "rate=0,since=2026-12-07T05:44:00Z",
                                  "rate=2,since=2026-12-07T05:44:00"])  # fmt: skip
def test_a_malformed_clock_is_refused_with_the_variable_named(text: str) -> None:
    with pytest.raises(ValueError, match="REDISBACKUP_CLOCK"):
        parse_clock(text)
