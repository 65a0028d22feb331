"""The schedules' clock: what time it is, and sleeping until a slot (or until something wakes the schedule).

`WallClock()` is the real one. `WallClock(rate, since)` runs `rate` times faster than the wall clock from `since` on,
so that end-to-end tests see days of schedule in seconds with the real operator, apiserver and Redis: an hourly
schedule at rate 3600 runs every second, and a backup's age crosses a one-day retention limit 24 seconds after it
was taken. Its instant is fixed (`since`), not the process start, so an operator restarted by a test resumes the same
timeline. It is chosen by REDISBACKUP_CLOCK (see `parse_clock`), which nothing but the tests sets; it only
drives the schedules (slots, deadlines, retention by age, the metric of seconds since a success), never the
snapshots or the timestamps Kubernetes keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Protocol

CLOCK_ENV = "REDISBACKUP_CLOCK"


class ScheduleClock(Protocol):
    def now(self) -> dt.datetime: ...

    def at(self, instant: dt.datetime) -> dt.datetime:
        """This clock's time at a wall-clock instant (e.g. a creationTimestamp Kubernetes wrote)."""

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None:
        """Return after `seconds` of this clock's time, or as soon as `wake` is set."""


class WallClock:
    """The wall clock, or (with `rate` and `since`) one that runs `rate` times as fast from `since` on."""

    def __init__(self, rate: float = 1.0, since: dt.datetime | None = None) -> None:
        self.rate = rate
        self.since = since

    def now(self) -> dt.datetime:
        return self.at(dt.datetime.now(dt.UTC))

    def at(self, instant: dt.datetime) -> dt.datetime:
        # Timestamps Kubernetes writes are wall-clock ones: on a faster clock a schedule created a second ago would
        # otherwise look a minute old, and run at once a slot from before it existed.
        if self.since is None or self.rate == 1.0:
            return instant
        return self.since + (instant - self.since) * self.rate

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None:
        if seconds <= 0 or wake.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds / self.rate)


def parse_clock(text: str | None) -> WallClock:
    """REDISBACKUP_CLOCK: empty for the wall clock, or "rate=R,since=YYYY-MM-DDTHH:MM:SSZ" (since: an instant
    in the past, from which time runs R times as fast)."""
    if not text:
        return WallClock()
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    try:
        rate = float(fields["rate"])
        since = dt.datetime.fromisoformat(fields["since"].replace("Z", "+00:00"))
    except (KeyError, ValueError) as error:
        raise ValueError(f"{CLOCK_ENV}={text!r} is not rate=R,since=YYYY-MM-DDTHH:MM:SSZ") from error
    if rate <= 0 or since.tzinfo is None:
        raise ValueError(f"{CLOCK_ENV}={text!r}: the rate must be positive and since must carry a time zone (Z)")
    return WallClock(rate, since)
