"""When a schedule runs: its slots, the one that is due now, and how late a run may still start.

A cron schedule's slots come from the cron expression in its time zone (`api.timing`, over the `cronsim`
library: Debian cron's rules, daylight-saving changes included). ElastiCache's snapshotWindow becomes a daily cron
slot in UTC: the operator picks one start minute inside the window from a hash of the schedule's uid — stable for
the schedule's life, so its backups are a day apart, and different between schedules, so the sources that share
a window are not all forked at its first minute (ElastiCache likewise picks the start within the window).

Making up for missed runs never bursts: of all the slots missed while the operator was away only the newest is
due, and only while it is less than the starting deadline late (`spec.startingDeadlineSeconds`; by default until
the window closes, or for a cron schedule until the next slot).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.api import timing

MAX_COUNTED_MISSES = 100  # counting missed slots stops here (a long outage of an every-minute schedule)


@dataclass(frozen=True)
class Due:
    """The slot to act on now, and how many older slots were passed over since the last one handled."""

    slot: dt.datetime
    skipped: int
    late: dt.timedelta


@dataclass(frozen=True)
class Timetable:
    expression: str
    """A valid cron expression (5 fields or a macro)."""
    zone: dt.tzinfo
    zone_name: str
    window: timing.SnapshotWindow | None = None
    deadline: dt.timedelta | None = None
    """How late a slot may still start; None: until the next slot."""

    @classmethod
    def of(cls, spec: Mapping[str, Any], uid: str) -> Timetable:
        """The timetable of a schedule whose spec is valid (`api.schedule_validation`)."""
        explicit = spec.get("startingDeadlineSeconds")
        deadline = dt.timedelta(seconds=int(explicit)) if explicit else None
        window = timing.parse_window(str(spec["snapshotWindow"])) if spec.get("snapshotWindow") else None
        if window is not None:
            offset = int.from_bytes(hashlib.sha256(f"snapshot-window/{uid}".encode()).digest()[:8], "big")
            offset %= window.minutes
            hour, minute = window.start_at(offset)
            if deadline is None:  # a snapshot begins inside the window, as ElastiCache's do
                deadline = dt.timedelta(minutes=window.minutes - offset)
            return cls(f"{minute} {hour} * * *", dt.UTC, "UTC", window, deadline)
        zone_name = str(spec.get("timeZone") or "UTC")
        return cls(str(spec["schedule"]), timing.time_zone(spec.get("timeZone")), zone_name, None, deadline)

    def _local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.zone)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first slot strictly after `moment`, in UTC."""
        slot: dt.datetime = next(timing.cron_slots(self.expression, self._local(moment)))
        return slot.astimezone(dt.UTC)

    def latest_at_or_before(self, moment: dt.datetime) -> dt.datetime:
        # Reverse iteration yields slots strictly before its start, at second precision: start a second later.
        # The second is added in UTC: local arithmetic would drop the fold of a repeated hour (DST's fall-back),
        # and the slots of its second occurrence would then be skipped.
        start = self._local(moment.replace(microsecond=0) + dt.timedelta(seconds=1))
        slot: dt.datetime = next(timing.cron_slots(self.expression, start, reverse=True))
        return slot.astimezone(dt.UTC)

    def due(self, now: dt.datetime, handled: dt.datetime) -> Due | None:
        """The newest slot in (handled, now], with the count of older ones passed over; None when there is none."""
        latest = self.latest_at_or_before(now)
        if latest <= handled:
            return None
        skipped = 0
        for slot in timing.cron_slots(self.expression, self._local(latest), reverse=True):
            if slot.astimezone(dt.UTC) <= handled or skipped >= MAX_COUNTED_MISSES:
                break
            skipped += 1
        return Due(latest, skipped, now - latest)

    def in_time(self, due: Due) -> bool:
        """Whether the due slot may still start: not later than the deadline (by default, before the next slot)."""
        if self.deadline is not None:
            return due.late <= self.deadline
        return self.next_after(due.slot) > due.slot + due.late

    def interval(self, around: dt.datetime) -> dt.timedelta:
        """What "no success for twice the interval" alerts measure: the longer of the gap between slots that
        `around` is in and the one before it. Uneven schedules need both: "0 3 * * 1-5" is in its three-day gap over
        the weekend (the next two slots, a day apart, would alert every Sunday), and a failed Monday run still
        counts the weekend's gap (one failure is not two)."""
        latest = self.latest_at_or_before(around)
        previous = self.latest_at_or_before(latest - dt.timedelta(seconds=1))
        return max(self.next_after(around) - latest, latest - previous)

    def describe(self) -> str:
        """What status.schedule shows: the expression and its zone, and for a window the start chosen in it."""
        if self.window is not None:
            minute, hour = self.expression.split()[:2]
            return f"{self.expression} UTC (snapshotWindow {self.window}: starts at {int(hour):02d}:{int(minute):02d})"
        return f"{self.expression} {self.zone_name}"
