"""The final snapshot of a Redis workload being deleted (`domain.final_snapshot`): take it, then let the workload go.

    annotated, not deleting ─► keep the finalizer redisbackup.io/final-snapshot (remove it when the annotation goes)
    deleting, finalizer held ─► create (or find) the manual RedisBackup ─► wait until available or failed, at most
                                until the deadline ─► Event + result annotation ─► remove the finalizer

Deleting a StatefulSet (kubectl's default, background cascade) leaves its Pods running until the StatefulSet itself
is gone, so the snapshot reads the live Redis. The deadline counts from the deletion request (its
deletionTimestamp), so an operator that restarts in between picks the same RedisBackup up again (its name is the
snapshot name, and it records which workload it is for) and never waits longer in total. Whatever happens — a name
already taken, a bad annotation, Redis unreachable, the deadline — the workload is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from redisbackup.api.faults import FaultCode
from redisbackup.domain.conditions import Notice
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.final_snapshot import (
    Outcome,
    Workload,
    deadline,
    deleting,
    final_backup,
    holds_finalizer,
    is_final_snapshot_of,
    wanted,
)
from redisbackup.k8s import redisbackups, workload_finalizers
from redisbackup.k8s.api import in_thread
from redisbackup.k8s.faults import RequestRejected
from redisbackup.k8s.status import post_with_kopf

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
TAKEN, FAILED, TIMED_OUT = "FinalSnapshotTaken", "FinalSnapshotFailed", "FinalSnapshotTimedOut"


class FinalSnapshotKubernetes(Protocol):
    async def update_finalizer(self, workload: Workload, *, present: bool, result: str | None = None) -> bool: ...

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None: ...

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def post_event(self, body: Mapping[str, Any], notice: Notice) -> None: ...


class LiveFinalSnapshotKubernetes:
    async def update_finalizer(self, workload: Workload, *, present: bool, result: str | None = None) -> bool:
        return await workload_finalizers.update_finalizer(workload, present=present, result=result)

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None:
        await in_thread(redisbackups.create_backup, namespace, body)

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await in_thread(redisbackups.get_backup, namespace, name)

    def post_event(self, body: Mapping[str, Any], notice: Notice) -> None:
        post_with_kopf(body, notice)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FinalSnapshots:
    """Every annotated workload this operator watches, and the final snapshots of those being deleted."""

    def __init__(
        self,
        kubernetes: FinalSnapshotKubernetes,
        *,
        deadline_seconds: float,
        clock: Callable[[], dt.datetime] = _utc_now,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.kubernetes = kubernetes
        self.deadline_seconds = deadline_seconds
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.running: dict[str, asyncio.Task[None]] = {}

    async def observe(self, kind: str, body: Mapping[str, Any]) -> None:
        """A watch event of an annotated (or finalized) workload: keep the finalizer right, or start the snapshot."""
        workload = Workload.of(kind, body)
        if deleting(body):
            if holds_finalizer(body) and workload.uid not in self.running:
                task = asyncio.create_task(self.finish(workload, dict(body)), name=f"final snapshot of {workload}")
                self.running[workload.uid] = task
                task.add_done_callback(lambda _: self.running.pop(workload.uid, None))
            return
        if (wanted(body) is not None) != holds_finalizer(body):
            await self.kubernetes.update_finalizer(workload, present=wanted(body) is not None)

    async def finish(self, workload: Workload, body: dict[str, Any]) -> None:
        """Take the final snapshot (bounded by the deadline), say how it went, and release the workload."""
        remaining = (deadline(body, self.deadline_seconds) - self.clock()).total_seconds()
        try:
            outcome = await asyncio.wait_for(self._patiently(workload, body), timeout=max(remaining, 0.0))
        except TimeoutError:
            outcome = Outcome(
                False,
                TIMED_OUT,
                f"the final snapshot {wanted(body)} was not available {self.deadline_seconds:g}s after {workload} was "
                "deleted (finalSnapshots.deadlineSeconds): the workload is released without it; see its RedisBackup",
            )
        except RedisBackupError as fault:
            outcome = Outcome(False, str(fault.code), fault.message)
        notice = Notice("Normal" if outcome.taken else "Warning", TAKEN if outcome.taken else FAILED, outcome.message)
        self.kubernetes.post_event(_reference(workload), notice)
        log.log(logging.INFO if outcome.taken else logging.WARNING, "%s: %s", workload, outcome.message)
        for attempt in range(5):  # the release must happen: a transient API error is retried, then logged
            try:
                await self.kubernetes.update_finalizer(workload, present=False, result=outcome.annotation)
                return
            except RedisBackupError:
                log.warning("%s: could not remove the finalizer (attempt %d)", workload, attempt + 1, exc_info=True)
                await asyncio.sleep(2.0**attempt)

    async def _patiently(self, workload: Workload, body: Mapping[str, Any]) -> Outcome:
        """`take`, tried again after a transient fault (the apiserver for a moment) until the deadline stops it."""
        while True:
            try:
                return await self.take(workload, body)
            except RedisBackupError as fault:
                if not fault.transient:
                    raise
                log.warning("%s: %s; trying again", workload, fault)
                await asyncio.sleep(5 * self.poll_seconds)

    async def take(self, workload: Workload, body: Mapping[str, Any]) -> Outcome:
        planned = final_backup(workload, body)
        if planned.violations:
            first = planned.violations[0]
            return Outcome(False, str(first.code), "; ".join(v.message for v in planned.violations))
        name = str(planned.body["metadata"]["name"])
        snapshot = str(planned.body["spec"]["snapshotName"])
        try:
            await self.kubernetes.create_backup(workload.namespace, planned.body)
        except RequestRejected as rejection:
            existing = await self.kubernetes.get_backup(workload.namespace, name)
            if existing is None or not is_final_snapshot_of(existing, workload):
                return Outcome(
                    False, str(rejection.code), f"the final snapshot {snapshot} was refused: {rejection.message}"
                )
        while True:
            backup = await self.kubernetes.get_backup(workload.namespace, name)
            if backup is None:
                return Outcome(False, str(FaultCode.SNAPSHOT_NOT_FOUND), f"RedisBackup {name} was deleted meanwhile")
            status = backup.get("status") or {}
            if status.get("phase") == "available":
                return Outcome(True, TAKEN, f"took the final snapshot {snapshot} (RedisBackup {name}) of {workload}")
            if status.get("phase") == "failed":
                failed: Mapping[str, Any] = next(
                    (c for c in status.get("conditions") or [] if c.get("type") == "Failed"), {}
                )
                reason = str(failed.get("reason") or FAILED)
                return Outcome(False, reason, f"the final snapshot {snapshot} failed: {failed.get('message')}")
            await asyncio.sleep(self.poll_seconds)

    async def close(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _reference(workload: Workload) -> dict[str, Any]:
    api_version = "v1" if workload.kind == "Pod" else "apps/v1"
    metadata = {"name": workload.name, "namespace": workload.namespace, "uid": workload.uid}
    return {"apiVersion": api_version, "kind": workload.kind, "metadata": metadata}
