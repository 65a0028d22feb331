"""The named transitions of a RedisBackupSchedule's status: the only way the operator changes it.

    mark_observed   what the schedule's backups and timetable say now: source, schedule, next run, last success,
                    the active backup, how many are kept; Ready (True, or False while the newest backup failed)
    mark_scheduled  a run created its automated backup (lastScheduleTime, active) — Event Scheduled
    mark_skipped    a slot passed without a backup (the previous one still being taken, missed beyond the starting
                    deadline, suspended) — lastSkippedTime, and an Event saying why
    mark_invalid    the spec cannot be scheduled (the webhook was bypassed): Ready False, Stalled True
    pruned_notice   the Event of a backup deleted by retention

Each returns a `StatusChange` (a JSON merge patch of .status and its Event), as RedisBackup's transitions do; the
conditions carry observedGeneration, which kstatus and Argo CD compare with metadata.generation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from redisbackup.api.status import ConditionType
from redisbackup.api.violations import Violation
from redisbackup.domain.automated import format_time
from redisbackup.domain.conditions import (
    ConditionValue,
    Notice,
    Status,
    StatusChange,
    change,
    conditions,
    newest_generation,
)

SCHEDULED = "Scheduled"
SUSPENDED = "Suspended"
TURNED_OFF = "AutomaticBackupsOff"
SKIPPED_RUN = "SkippedRun"
MISSED_SCHEDULE = "MissedSchedule"
PRUNED = "Pruned"
BACKUP_FAILED = "BackupFailed"


@dataclass(frozen=True)
class FailedBackup:
    name: str
    reason: str
    message: str


@dataclass(frozen=True)
class Observation:
    """What one look at the schedule found (computed by the workflow from its backups and timetable)."""

    source: str
    schedule: str
    next_time: dt.datetime | None
    last_success: dt.datetime | None
    active: str | None
    last_backup: str | None
    kept: int
    suspended: bool = False
    turned_off: bool = False
    newest_failed: FailedBackup | None = None


def _time(moment: dt.datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def mark_observed(
    status: Status | None, seen: Observation, *, generation: int | None, now: dt.datetime
) -> StatusChange:
    ready: tuple[ConditionValue, str, str]
    if seen.turned_off:
        ready = ("True", TURNED_OFF, "spec.snapshotRetentionLimit is 0: automatic backups are off, as in ElastiCache")
    elif seen.suspended:
        ready = ("True", SUSPENDED, "spec.suspend is true: no new runs; retention goes on")
    elif seen.newest_failed is not None:
        failed = seen.newest_failed
        ready = ("False", failed.reason, f"the newest automated backup {failed.name} failed: {failed.message}")
    else:
        ready = ("True", SCHEDULED, f"next run at {_time(seen.next_time)}")
    patch: dict[str, Any] = {
        "observedGeneration": newest_generation(status, generation),
        "source": seen.source,
        "schedule": seen.schedule,
        "nextScheduleTime": _time(seen.next_time),
        "lastSuccessfulTime": _time(seen.last_success) or (status or {}).get("lastSuccessfulTime"),
        "active": seen.active,
        "lastBackup": seen.last_backup,
        "kept": seen.kept,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, *ready),
            (ConditionType.STALLED, "False", SCHEDULED, "the spec can be scheduled"),
        ),
    }
    return change(status, patch, None)


def mark_scheduled(status: Status | None, *, backup: str, slot: dt.datetime, late: dt.timedelta) -> StatusChange:
    seconds = late.total_seconds()
    how = f", {seconds:.0f}s late (a run missed while the operator was away)" if seconds > 60 else ""
    notice = Notice("Normal", SCHEDULED, f"created automated backup {backup} for the run due at {_time(slot)}{how}")
    return change(status, {"lastScheduleTime": _time(slot), "active": backup, "lastBackup": backup}, notice)


def mark_skipped(status: Status | None, *, slot: dt.datetime, reason: str, message: str | None) -> StatusChange:
    """A slot passed without a backup; `message` None: no Event (a suspended schedule's slots)."""
    notice = Notice("Warning", reason, message) if message is not None else None
    return change(status, {"lastSkippedTime": _time(slot)}, notice)


def mark_invalid(
    status: Status | None, violations: list[Violation], *, generation: int | None, now: dt.datetime
) -> StatusChange:
    first = violations[0]
    message = "; ".join(str(v) for v in violations) + ": correct the spec; nothing runs until then"
    patch = {
        "observedGeneration": newest_generation(status, generation),
        "nextScheduleTime": None,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", str(first.code), message),
            (ConditionType.STALLED, "True", str(first.code), message),
        ),
    }
    return change(status, patch, Notice("Warning", str(first.code), message))


def pruned_notice(name: str, reason: str) -> Notice:
    return Notice("Normal", PRUNED, f"deleted automated backup {name}: {reason}")


def failed_notice(name: str, message: str) -> Notice:
    return Notice("Warning", BACKUP_FAILED, f"automated backup {name} failed: {message}")
