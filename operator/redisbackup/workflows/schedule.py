"""The schedule use case: one RedisBackupSchedule, for as long as it exists.

    ┌─► check the spec (the webhook's rules) ─► list its automated backups ─► retention ─► the due slot:
    │     suspended or off: skip it quietly · later than the starting deadline: skip it (MissedSchedule)
    │     the previous backup still creating: skip it (SkippedRun) · else create-or-get its RedisBackup (Scheduled)
    │   ─► status (next run, last success, active, kept, Ready) and the metric
    └── sleep until the next slot, or until woken: the spec changed, or one of its backups changed phase

`ScheduleReconciler.run` is that loop, in a kopf daemon per schedule; `reconcile` is one pass and returns how long
to sleep. Nothing is polled: between slots the daemon sleeps, and the handlers wake it (`wake`). A pass is
idempotent: the backup of a slot has a name made from the schedule and the slot (`domain.automated`), so an
operator that restarts after creating it finds it (AlreadyExists, owned by this schedule) instead of making a
second one, and the slots handled are in status (lastScheduleTime, lastSkippedTime), so none is run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from redisbackup.api.faults import FaultCode
from redisbackup.api.schedule_validation import check_schedule_create
from redisbackup.domain.automated import automated_backup, belongs_to, parse_time, slot_of
from redisbackup.domain.retention import TERMINAL, AutomatedBackup, to_prune
from redisbackup.domain.schedule_status import (
    MISSED_SCHEDULE,
    SKIPPED_RUN,
    SUSPENDED,
    FailedBackup,
    Observation,
    failed_notice,
    mark_invalid,
    mark_observed,
    mark_scheduled,
    mark_skipped,
    pruned_notice,
)
from redisbackup.domain.timetable import Due, Timetable
from redisbackup.k8s import redisbackups, schedules
from redisbackup.k8s.api import in_thread
from redisbackup.k8s.faults import ObjectNotFound, RequestRejected
from redisbackup.k8s.status import FieldManager, StatusWriter, apply_schedule_status
from redisbackup.servers.metrics import ScheduleMetrics
from redisbackup.workflows.clock import ScheduleClock

log = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 3600.0  # even with nothing due, look again now and then (a clock step, a lost wake-up)


class ScheduleKubernetes(Protocol):
    """What the schedule workflow needs from Kubernetes (the real one below, or a fake in unit tests)."""

    async def list_automated(self, namespace: str, schedule: str) -> list[dict[str, Any]]: ...

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None:
        """Raises RequestRejected (AlreadyExists, or the webhook's SnapshotAlreadyExistsFault) when taken."""

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def delete_backup(self, namespace: str, name: str) -> None:
        """Ask for the deletion (the finalizer then releases the data); gone already is fine."""

    def status_writer(self, body: Mapping[str, Any]) -> StatusWriter: ...


class LiveScheduleKubernetes:
    async def list_automated(self, namespace: str, schedule: str) -> list[dict[str, Any]]:
        return await schedules.list_automated(namespace, schedule)

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None:
        await in_thread(redisbackups.create_backup, namespace, body)

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await in_thread(redisbackups.get_backup, namespace, name)

    async def delete_backup(self, namespace: str, name: str) -> None:
        with contextlib.suppress(ObjectNotFound):
            await in_thread(redisbackups.delete_backup, namespace, name)

    def status_writer(self, body: Mapping[str, Any]) -> StatusWriter:
        return StatusWriter(body, manager=FieldManager.SCHEDULER, apply=apply_schedule_status)


def _phase(body: Mapping[str, Any]) -> str | None:
    phase = (body.get("status") or {}).get("phase")
    return str(phase) if phase else None


def _failure(body: Mapping[str, Any]) -> FailedBackup:
    name = str(body["metadata"]["name"])
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return FailedBackup(name, str(condition.get("reason") or "BackupFailed"), str(condition.get("message")))
    return FailedBackup(name, "BackupFailed", "see `kubectl describe rb " + name + "`")


class ScheduleReconciler:
    """Every RedisBackupSchedule this operator runs: their daemons' wake-ups, status writers and the metric."""

    def __init__(self, kubernetes: ScheduleKubernetes, clock: ScheduleClock, metrics: ScheduleMetrics) -> None:
        self.kubernetes = kubernetes
        self.clock = clock
        self.metrics = metrics
        self._wakeups: dict[str, asyncio.Event] = {}
        self._writers: dict[str, StatusWriter] = {}
        self._failures_told: dict[str, set[str]] = {}

    def wake(self, uid: str) -> None:
        """Make the schedule's daemon look again now (its spec, or one of its backups, changed)."""
        if (event := self._wakeups.get(uid)) is not None:
            event.set()

    async def run(self, body: Mapping[str, Any]) -> None:
        """The daemon: pass, sleep, pass … until cancelled (the schedule deleted, the operator stopping).
        `body` is kopf's live view of the schedule: each pass sees its latest spec."""
        metadata = body.get("metadata") or {}
        uid, namespace, name = str(metadata.get("uid")), str(metadata.get("namespace")), str(metadata.get("name"))
        wake = self._wakeups.setdefault(uid, asyncio.Event())
        try:
            while True:
                wake.clear()
                seconds = await self.reconcile(body)
                await self.clock.sleep(seconds, wake)
        finally:
            self._wakeups.pop(uid, None)
            self._writers.pop(uid, None)
            self._failures_told.pop(uid, None)
            self.metrics.forget(namespace, name)

    def _created(self, metadata: Mapping[str, Any]) -> dt.datetime | None:
        created = parse_time(metadata.get("creationTimestamp"))
        return None if created is None else self.clock.at(created)

    def _writer(self, body: Mapping[str, Any]) -> StatusWriter:
        uid = str(body["metadata"].get("uid"))
        if uid not in self._writers:
            self._writers[uid] = self.kubernetes.status_writer(body)
        return self._writers[uid]

    # ------------------------------------------------------------------------------------------ one pass
    async def reconcile(self, body: Mapping[str, Any]) -> float:
        """One look at the schedule; returns the seconds (of the schedule's clock) until the next one is due."""
        metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
        namespace, name, uid = str(metadata.get("namespace")), str(metadata.get("name")), str(metadata.get("uid"))
        generation = metadata.get("generation")
        writer = self._writer(body)
        now = self.clock.now()
        violations = check_schedule_create(body)
        if violations:  # the webhook was not there to refuse it: say so, and wait for a corrected spec
            self.metrics.forget(namespace, name)
            await writer.apply(mark_invalid(writer.status, violations, generation=generation, now=now))
            return MAX_SLEEP_SECONDS
        timetable = Timetable.of(spec, uid)
        owned = [b for b in await self.kubernetes.list_automated(namespace, name) if belongs_to(b, name, uid)]
        owned = await self._apply_retention(writer, namespace, spec, owned, now)
        suspended = bool(spec.get("suspend"))
        turned_off = spec.get("snapshotRetentionLimit") == 0
        handled = max(
            t
            for t in (
                parse_time(writer.status.get("lastScheduleTime")),
                parse_time(writer.status.get("lastSkippedTime")),
                self._created(metadata),
                dt.datetime.min.replace(tzinfo=dt.UTC),
            )
            if t is not None
        )
        due = timetable.due(now, handled)
        if due is not None:
            owned = await self._run_due(body, writer, timetable, due, owned, paused=suspended or turned_off)
        running = not (suspended or turned_off)
        # Paused or not, the daemon wakes at each slot: a paused one records it as skipped, so that resuming
        # never makes up a run that fell due while paused.
        upcoming = timetable.next_after(now)
        next_time = upcoming if running else None
        seen = self._observe(body, timetable, owned, next_time, suspended=suspended, turned_off=turned_off)
        await writer.apply(mark_observed(writer.status, seen, generation=generation, now=now))
        if running:
            created = self._created(metadata) or now
            self.metrics.observe(
                namespace,
                name,
                last_success=seen.last_success or created,
                interval_seconds=timetable.interval(now).total_seconds(),
            )
        else:
            self.metrics.forget(namespace, name)
        return min(max((upcoming - now).total_seconds(), 0.0), MAX_SLEEP_SECONDS)

    async def _apply_retention(
        self,
        writer: StatusWriter,
        namespace: str,
        spec: Mapping[str, Any],
        owned: list[dict[str, Any]],
        now: dt.datetime,
    ) -> list[dict[str, Any]]:
        records = [
            AutomatedBackup(
                str(b["metadata"]["name"]),
                slot_of(b) or now,
                _phase(b),
                deleting=bool(b["metadata"].get("deletionTimestamp")),
            )
            for b in owned
        ]
        pruned = to_prune(
            records, keep_last=spec.get("keepLast"), retention_days=spec.get("snapshotRetentionLimit"), now=now
        )
        for backup in pruned:
            await self.kubernetes.delete_backup(namespace, backup.name)
            writer.notify(pruned_notice(backup.name, backup.reason))
        gone = {backup.name for backup in pruned}
        return [b for b in owned if b["metadata"]["name"] not in gone]

    async def _run_due(
        self,
        body: Mapping[str, Any],
        writer: StatusWriter,
        timetable: Timetable,
        due: Due,
        owned: list[dict[str, Any]],
        *,
        paused: bool,
    ) -> list[dict[str, Any]]:
        """Act on the due slot: create its backup, or say why not. Returns the schedule's backups after that."""
        slot = due.slot
        when = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
        if paused:
            await writer.apply(mark_skipped(writer.status, slot=slot, reason=SUSPENDED, message=None))
            return owned
        earlier = f" ({due.skipped} earlier run(s) were missed too, and are not made up)" if due.skipped else ""
        if not timetable.in_time(due):
            deadline = timetable.deadline
            limit = f"startingDeadlineSeconds {deadline.total_seconds():.0f}" if deadline else "the next run"
            message = (
                f"missed the run due at {when}: it is {due.late.total_seconds():.0f}s late, past {limit} (was the "
                f"operator down?){earlier}; the next run is at {timetable.next_after(slot):%Y-%m-%dT%H:%M:%SZ}"
            )
            await writer.apply(mark_skipped(writer.status, slot=slot, reason=MISSED_SCHEDULE, message=message))
            return owned
        mine = [b for b in owned if slot_of(b) == slot]
        busy = [b for b in owned if _phase(b) not in TERMINAL and not b["metadata"].get("deletionTimestamp")]
        if busy and not mine:
            previous = busy[0]["metadata"]["name"]
            message = (
                f"skipped the run due at {when}: the previous automated backup {previous} is still being taken "
                "(one backup of a schedule at a time)"
            )
            await writer.apply(mark_skipped(writer.status, slot=slot, reason=SKIPPED_RUN, message=message))
            return owned
        created = mine[0] if mine else await self._create(body, writer, slot, when)
        if created is None:
            return owned
        backup = str(created["metadata"]["name"])
        await writer.apply(mark_scheduled(writer.status, backup=backup, slot=slot, late=due.late))
        return owned if mine else [*owned, created]

    async def _create(
        self, body: Mapping[str, Any], writer: StatusWriter, slot: dt.datetime, when: str
    ) -> dict[str, Any] | None:
        """Create the slot's backup, or find the one an earlier attempt created; None when its name is taken by a
        backup that is not this schedule's."""
        metadata = body["metadata"]
        backup = automated_backup(body, slot)
        namespace, name = str(metadata["namespace"]), str(backup["metadata"]["name"])
        try:
            await self.kubernetes.create_backup(namespace, backup)
            return backup
        except RequestRejected as rejection:
            if rejection.code == FaultCode.SNAPSHOT_ALREADY_EXISTS:
                existing = await self.kubernetes.get_backup(namespace, name)
                if existing is not None and belongs_to(existing, str(metadata["name"]), str(metadata["uid"])):
                    return existing  # created by an earlier pass (the operator restarted): not a second one
            reason = str(rejection.code)
            message = f"could not create the automated backup {name} for the run due at {when}: {rejection.message}"
            await writer.apply(mark_skipped(writer.status, slot=slot, reason=reason, message=message))
            return None

    def _observe(
        self,
        body: Mapping[str, Any],
        timetable: Timetable,
        owned: list[dict[str, Any]],
        next_time: dt.datetime | None,
        *,
        suspended: bool,
        turned_off: bool,
    ) -> Observation:
        spec, uid = body.get("spec") or {}, str(body["metadata"].get("uid"))
        by_slot = sorted(owned, key=lambda b: slot_of(b) or dt.datetime.min.replace(tzinfo=dt.UTC))
        available = [b for b in by_slot if _phase(b) == "available"]
        finished = [b for b in by_slot if _phase(b) in TERMINAL]
        creating = [b for b in by_slot if _phase(b) not in TERMINAL]
        newest_failed = _failure(finished[-1]) if finished and _phase(finished[-1]) == "failed" else None
        told = self._failures_told.setdefault(uid, set())
        for failed in (b for b in finished if _phase(b) == "failed"):
            if failed["metadata"]["name"] not in told:
                told.add(failed["metadata"]["name"])
                self._writer(body).notify(failed_notice(failed["metadata"]["name"], _failure(failed).message))
        return Observation(
            source=str(spec.get("replicationGroupId") or spec.get("cacheClusterId")),
            schedule=timetable.describe(),
            next_time=next_time,
            last_success=slot_of(available[-1]) if available else None,
            active=str(creating[-1]["metadata"]["name"]) if creating else None,
            last_backup=str(by_slot[-1]["metadata"]["name"]) if by_slot else None,
            kept=len(available),
            suspended=suspended,
            turned_off=turned_off,
            newest_failed=newest_failed,
        )
