"""What each watch event of a RedisBackup sets going (k8s.informer delivers them; handlers.backups wires it).

    every event ─► the index (workflows.uniqueness) ─► the snapshot and verification tasks (workflows.background)
                ─► the observers (the schedules' wake-ups)          (paused by kopf's peering: the index only)
    live, without the finalizer redisbackup.io/data ─► add it
    live, spec edited (status.observedGeneration < metadata.generation) ─► record it observed (workflows.observation)
    being deleted, finalizer held ─► stop its tasks ─► release its data (workflows.deletion) ─► remove the finalizer

This is what kopf's handlers did (an event handler, an update handler on the spec, a deletion handler with kopf's
finalizer) without kopf's per-object machinery, which cost minutes of the event loop at 10,000 RedisBackups.
The finalizer keeps kopf's name, so objects made while kopf managed it stay held. Each piece of follow-up work
(adding the finalizer, recording an edit, a deletion) is one task per object at most; it retries a fault after
the reconciler's delay, as kopf's TemporaryError did, and reads the object's latest body each time (a deletion that
is blocked sees the force-delete annotation as soon as it is set). The finalizer is written with the object's
resourceVersion as a precondition (k8s.finalizers), so that nobody else's finalizer is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from redisbackup.api.resource import DATA_FINALIZER
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s import redisbackups
from redisbackup.k8s.api import in_thread
from redisbackup.workflows.background import ObjectTasks, retry_faults
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.deletion import release_backup
from redisbackup.workflows.observation import observe_generation

log = logging.getLogger(__name__)


class FinalizerApi(Protocol):
    async def set_finalizer(self, body: Mapping[str, Any], *, present: bool) -> bool:
        """Add or remove redisbackup.io/data; False when the object is gone."""


class LiveFinalizerApi:
    async def set_finalizer(self, body: Mapping[str, Any], *, present: bool) -> bool:
        metadata = body.get("metadata") or {}
        return await in_thread(
            redisbackups.set_data_finalizer,
            str(metadata.get("namespace")),
            str(metadata.get("name")),
            str(metadata.get("uid")),
            present=present,
        )


def _metadata(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def holds_finalizer(body: Mapping[str, Any]) -> bool:
    return DATA_FINALIZER in (_metadata(body).get("finalizers") or ())


def is_deleting(body: Mapping[str, Any]) -> bool:
    return bool(_metadata(body).get("deletionTimestamp"))


def unobserved_generation(body: Mapping[str, Any]) -> int | None:
    """The generation of an edited spec not yet recorded in status.observedGeneration; None when there is none.

    A RedisBackup without a status yet is the snapshot's to record (its first write does); one being deleted has
    its generation raised by the deletion itself, which the deletion records."""
    status = body.get("status")
    generation = _metadata(body).get("generation")
    if not isinstance(status, Mapping) or is_deleting(body) or not isinstance(generation, int):
        return None
    observed = status.get("observedGeneration")
    return generation if isinstance(observed, int) and observed < generation else None


def _names(body: Mapping[str, Any]) -> str:
    metadata = _metadata(body)
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


class _FollowUps:
    """At most one task of one kind per uid, each following the object's latest body."""

    def __init__(self, name: str, retry_delay: Callable[[int, RedisBackupError | None], float]) -> None:
        self.name = name
        self._retry_delay = retry_delay
        self._bodies: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, uid: str) -> bool:
        return uid in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def follow(self, uid: str, body: Mapping[str, Any]) -> None:
        live = self._bodies.get(uid)
        if live is not None:
            live.clear()
            live.update(body)

    def start(self, uid: str, body: Mapping[str, Any], work: Callable[[dict[str, Any]], Awaitable[bool]]) -> None:
        """Run `work(live body)` until it returns True (done) or False (nothing left to do); a fault is retried."""
        if uid in self._tasks:
            self.follow(uid, body)
            return
        live = self._bodies[uid] = dict(body)
        self._tasks[uid] = asyncio.create_task(self._run(uid, live, work), name=f"{self.name} {_names(body)}")

    async def _run(self, uid: str, live: dict[str, Any], work: Callable[[dict[str, Any]], Awaitable[bool]]) -> None:
        try:
            await retry_faults(self.name, live, work, self._retry_delay)
        finally:
            if self._tasks.get(uid) is asyncio.current_task():
                del self._tasks[uid]
                self._bodies.pop(uid, None)

    def cancel(self, uid: str) -> None:
        task = self._tasks.get(uid)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


class BackupEvents:
    """The informer's handler of RedisBackup events: `await events(type, body)`."""

    def __init__(
        self,
        reconciler: RedisBackupReconciler,
        tasks: Sequence[ObjectTasks],
        finalizers: FinalizerApi | None = None,
        observers: Sequence[Callable[[str, Mapping[str, Any]], None]] = (),
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.reconciler = reconciler
        self.active = active  # False while kopf's peering pauses this operator (workflows.peering_gate)
        self.tasks = tasks
        self.observers = observers  # e.g. the schedules' wake-ups (handlers.schedules.backup_wakeups)
        self.finalizers = finalizers or LiveFinalizerApi()
        retry_delay = reconciler.retry_delay
        self.adding = _FollowUps("adding the finalizer", retry_delay)
        self.observing = _FollowUps("recording the spec edit", retry_delay)
        self.deleting = _FollowUps("deletion", retry_delay)
        self._released: set[str] = set()  # uids whose data is released, their finalizer not removed yet

    async def __call__(self, type_: str, body: dict[str, Any]) -> None:
        deleted = type_ == "DELETED"
        uid = str(_metadata(body).get("uid") or "")
        if not uid:
            return
        self.reconciler.index.observe(body, deleted=deleted)
        if not self.active():  # paused: the index stays complete; work running here only hears of an end
            if deleted or is_deleting(body):
                for work in self.tasks:
                    work.observe(body, deleted=deleted)
            return
        for work in self.tasks:
            work.observe(body, deleted=deleted)
        for observer in self.observers:
            observer(type_, body)
        if deleted:  # gone: nothing left to do for it
            for follow_ups in (self.adding, self.observing, self.deleting):
                follow_ups.cancel(uid)
            self._released.discard(uid)
            return
        if is_deleting(body):
            self.adding.cancel(uid)
            if holds_finalizer(body) or uid in self.deleting:
                self.deleting.start(uid, body, self._release)
            return
        if not holds_finalizer(body):
            self.adding.start(uid, body, self._add_finalizer)
        else:
            self.adding.follow(uid, body)
        if unobserved_generation(body) is not None:
            self.observing.start(uid, body, self._observe)
        else:
            self.observing.follow(uid, body)

    async def _add_finalizer(self, body: dict[str, Any]) -> bool:
        if holds_finalizer(body) or is_deleting(body):
            return True
        return await self.finalizers.set_finalizer(body, present=True)

    async def _observe(self, body: dict[str, Any]) -> bool:
        if unobserved_generation(body) is None:
            return True
        await observe_generation(self.reconciler, dict(body))
        return True

    async def _release(self, body: dict[str, Any]) -> bool:
        """kopf's deletion handler, then its finalizer removal: the tasks stop (a snapshot aborts its uploads and
        removes its partial objects before the data goes), the data is released, the finalizer goes."""
        uid = str(_metadata(body).get("uid"))
        if uid not in self._released:
            for work in self.tasks:
                if not await work.stop(uid):
                    log.warning("%s: the cancelled %s still cleans up", _names(body), work.name)
            await release_backup(self.reconciler, dict(body))
            self._released.add(uid)
        removed = await self.finalizers.set_finalizer(body, present=False)
        self._released.discard(uid)
        return removed

    async def close(self) -> None:
        """Stop the follow-up work (the operator stops); the snapshot and verification tasks are closed apart."""
        for follow_ups in (self.adding, self.observing, self.deleting):
            await follow_ups.close()
