"""kopf handlers of RedisBackupSchedules: a daemon per schedule, and the wake-ups that spare it any polling. Thin.

- The daemon (`workflows.schedule.ScheduleReconciler.run`) runs from the moment kopf sees a schedule until it is
  deleted or the operator stops: one pass, then a sleep until the next slot. kopf puts a finalizer on the
  schedule while its daemon lives, so a deletion waits until the daemon has stopped; the schedule's backups then
  go by their ownerReferences (Kubernetes' garbage collector), each through its own finalizer, which releases
  its stored data.
- A change of the schedule's spec (a new generation) wakes its daemon, which re-reads the spec at once.
- A change of phase of one of its automated backups (or its deletion) wakes it too: retention counts available
  backups, and status shows the active one and the last success. Those events come from the operator's own
  informer of RedisBackups (`backup_wakeups`, called by handlers.backups), never from kopf.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import SCHEDULE_PLURAL
from redisbackup.domain.automated import SCHEDULE_LABEL, schedule_owner
from redisbackup.workflows.schedule import ScheduleReconciler

log = logging.getLogger(__name__)

DAEMON_ID = "run-schedule"
WAKE_ON_SPEC_ID = "wake-schedule-on-spec-change"
BackupObserver = Callable[[str, Mapping[str, Any]], None]
RETRY_DELAY = 10.0  # after an unexpected error (the apiserver, a bug), before the daemon starts again


def register(registry: kopf.OperatorRegistry, reconciler: ScheduleReconciler) -> BackupObserver:
    """The schedules' kopf handlers; what must see every RedisBackup event (for handlers.backups' informer)."""
    _register_daemon(registry, reconciler)
    _register_wakeups(registry, reconciler)
    return backup_wakeups(reconciler)


def _register_daemon(registry: kopf.OperatorRegistry, reconciler: ScheduleReconciler) -> None:
    @kopf.daemon(
        GROUP,
        VERSION,
        SCHEDULE_PLURAL,
        id=DAEMON_ID,
        backoff=RETRY_DELAY,
        cancellation_timeout=10.0,  # cancelled at once on deletion; a pass in flight ends within this
        registry=registry,
    )
    async def run_schedule(body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> None:
        try:
            await reconciler.run(body)  # the live body: each pass reads the schedule's latest spec
        except Exception as error:
            log.exception("%s/%s: the schedule's daemon failed; it starts again in %gs", namespace, name, RETRY_DELAY)
            raise kopf.TemporaryError(str(error), delay=RETRY_DELAY) from error


def _register_wakeups(registry: kopf.OperatorRegistry, reconciler: ScheduleReconciler) -> None:
    generations: dict[str, object] = {}

    @kopf.on.event(GROUP, VERSION, SCHEDULE_PLURAL, id=WAKE_ON_SPEC_ID, registry=registry)
    async def wake_on_spec_change(type: str | None, body: kopf.Body, **_: Any) -> None:
        uid = str(body["metadata"].get("uid"))
        if type == "DELETED":
            generations.pop(uid, None)
            return
        generation = body["metadata"].get("generation")
        if generations.get(uid) != generation:  # its own status writes leave the generation alone
            generations[uid] = generation
            reconciler.wake(uid)


def backup_wakeups(reconciler: ScheduleReconciler) -> BackupObserver:
    """What wakes a schedule when one of its automated backups changes phase or goes: called with every event of
    the operator's informer of RedisBackups (handlers.backups), not by kopf — kopf watching RedisBackups at all
    would put them through its per-object machinery again, and would strip the finalizer redisbackup.io/data
    that no kopf handler of RedisBackups requires any more."""
    phases: dict[str, tuple[object, str]] = {}  # uid of an automated backup → (its state, its schedule's uid)

    def wake_on_backup_change(type_: str, body: Mapping[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        uid = str(metadata.get("uid"))
        if type_ == "DELETED":
            known = phases.pop(uid, None)
            if known is not None:
                reconciler.wake(known[1])
            return
        if SCHEDULE_LABEL not in (metadata.get("labels") or {}):
            return
        owner = schedule_owner(body)
        if owner is None:
            return
        state = (body.get("status") or {}).get("phase"), bool(metadata.get("deletionTimestamp"))
        if phases.get(uid) != (state, owner.uid):  # progress reports leave the phase alone
            phases[uid] = (state, owner.uid)
            reconciler.wake(owner.uid)

    return wake_on_backup_change
