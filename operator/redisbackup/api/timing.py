"""The time rules of a RedisBackupSchedule, defined once: cron expressions, ElastiCache's snapshot window, time zones.

The webhook, `redisbackup validate`, the reconciler's re-check and the schedule's timetable (`domain.timetable`)
all parse through these functions, so what is admitted is exactly what runs. The CRD carries a coarse shape check
of each (a CEL `matches`), so a malformed value is refused even without the webhook; the full rules need cron and
time-zone knowledge that CEL does not have.

- `schedule`: a standard 5-field cron expression (minute hour day-of-month month day-of-week) as Debian's cron
  reads it — parsed by the `cronsim` library, which also knows `L`, `LW` and `#` — or one of the macros
  @yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly (as Kubernetes CronJobs accept them).
- `snapshotWindow`: ElastiCache's "hh24:mi-hh24:mi", UTC; it may run past midnight (23:30-01:30), its two ends
  differ.
- `timeZone`: an IANA name (Europe/Berlin), read by `zoneinfo` (from the system's zone files, else the tzdata
  package).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from cronsim import CronSim, CronSimError

CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Coarse shapes for the CRD (RE2, as the apiserver evaluates CEL `matches`); the full rules are below.
CRON_SHAPE = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ @]+( [^ ]+){4})$"
WINDOW_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
_WINDOW = re.compile(WINDOW_PATTERN.strip("^$"))
_CRON_SHAPE = re.compile(CRON_SHAPE.strip("^$"))
_REFERENCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def expand_macro(expression: str) -> str:
    """The 5-field form of `expression` (a macro becomes its fields; anything else is returned as given)."""
    return CRON_MACROS.get(expression, expression)


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a schedule we run, naming the cron field at fault; None when it is one."""
    if expression.startswith("@") and expression not in CRON_MACROS:
        return f"{expression!r} is not a macro we know: use one of {', '.join(CRON_MACROS)}, or 5 cron fields"
    text = expand_macro(expression)
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        return (
            f"{expression!r} has {len(fields)} field(s); a schedule has 5 ({' '.join(CRON_FIELDS)}), e.g. "
            '"0 3 * * *" for 03:00 every day (no seconds field)'
        )
    if _CRON_SHAPE.fullmatch(expression) is None:
        return f"{expression!r}: separate the 5 fields by single spaces, with none before or after them"
    try:
        slots = CronSim(text, _REFERENCE)
        next(slots)  # an expression that never matches (30 February) fails here
    except CronSimError as error:
        field = str(error).removeprefix("Bad ")
        return (
            f"{expression!r} has a bad {field} field: each field is *, a number (or a month or day name), a range "
            "a-b, a list a,b or a step */n within the field's range"
        )
    except StopIteration:
        return f"{expression!r} never matches a date"
    return None


def cron_slots(expression: str, after: dt.datetime, *, reverse: bool = False) -> CronSim:
    """The slots of a valid expression after (or, `reverse`, before) `after`, in `after`'s time zone."""
    return CronSim(expand_macro(expression), after, reverse=reverse)


def explain(expression: str) -> str:
    """Plain words for a valid expression, e.g. "At 03:00" (cronsim's own explanation)."""
    return str(CronSim(expand_macro(expression), _REFERENCE).explain())


@dataclass(frozen=True)
class SnapshotWindow:
    """ElastiCache's daily window (UTC) in which an automatic snapshot begins."""

    start: int
    """Minutes after midnight UTC."""
    end: int

    @property
    def minutes(self) -> int:
        """Its length; a window that runs past midnight wraps around."""
        return (self.end - self.start) % (24 * 60)

    def start_at(self, offset: int) -> tuple[int, int]:
        """(hour, minute) UTC of the minute `offset` into the window."""
        minute = (self.start + offset % self.minutes) % (24 * 60)
        return divmod(minute, 60)

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def parse_window(text: str) -> SnapshotWindow | None:
    """The window "hh24:mi-hh24:mi", or None when `text` is not one (see `window_problem`)."""
    if _WINDOW.fullmatch(text) is None:
        return None
    start, end = (int(part[:2]) * 60 + int(part[3:]) for part in text.split("-"))
    return SnapshotWindow(start, end) if start != end else None


def window_problem(text: str) -> str | None:
    if _WINDOW.fullmatch(text) is None:
        return (
            f'{text!r} is not a time range in the format hh24:mi-hh24:mi (UTC), e.g. "05:00-09:00": two times of day '
            "with two-digit hours 00-23 and minutes 00-59"
        )
    if parse_window(text) is None:
        return f"{text!r} begins and ends at the same time: give a window of at least one minute"
    return None


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not an IANA time zone this operator knows; None when it is one."""
    if re.fullmatch(TIME_ZONE_PATTERN.strip("^$"), name) is None or ".." in name:
        return f"{name!r} is not an IANA time zone name, e.g. Europe/Berlin, America/New_York or UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not a time zone of the IANA database: use a name such as Europe/Berlin or UTC"
    return None


def time_zone(name: str | None) -> dt.tzinfo:
    """The zone of a valid name (UTC when none is given)."""
    return zoneinfo.ZoneInfo(name) if name else dt.UTC
