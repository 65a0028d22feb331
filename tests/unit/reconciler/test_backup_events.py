"""workflows.backup_events: what each RedisBackup event sets going — the finalizer, spec edits, the deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from redisbackup.domain.faults import StorageFault
from redisbackup.k8s.faults import KubernetesUnavailable
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.background import ObjectTasks
from redisbackup.workflows.backup_events import BackupEvents, unobserved_generation
from tests.unit.reconciler.fakes import FakeKubernetes, backups, body, single_pod

FINALIZER = "redisbackup.io/data"
STORED = {"phase": "available", "storage": "embedded", "location": "memory:///team/nightly/uid-1/"}


class Finalizers:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.failures: list[Exception] = []

    async def set_finalizer(self, found: Mapping[str, Any], *, present: bool) -> bool:
        self.calls.append((found["metadata"]["uid"], present))
        if self.failures:
            raise self.failures.pop(0)
        return True


FAST_RETRIES = "retryInitialDelaySeconds: 0.01, retryMaxDelaySeconds: 0.05"


def events(store: MemoryStore | None = None) -> tuple[BackupEvents, FakeKubernetes, Finalizers]:
    kubernetes = FakeKubernetes(single_pod)  # type: ignore[arg-type]
    reconciler = backups(kubernetes, store or MemoryStore(), limits=FAST_RETRIES)
    finalizers = Finalizers()
    return BackupEvents(reconciler, [], finalizers), kubernetes, finalizers


def available(*, finalizer: bool = True, **metadata: Any) -> dict[str, Any]:
    found = body(status=dict(STORED, observedGeneration=1))
    if finalizer:
        found["metadata"]["finalizers"] = ["other.io/keep", FINALIZER]
    found["metadata"].update(metadata)
    return found


async def settled(handler: BackupEvents) -> None:
    async with asyncio.timeout(10):
        while len(handler.adding) or len(handler.observing) or len(handler.deleting):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_live_backup_gets_the_finalizer_once_and_is_indexed() -> None:
    handler, _, finalizers = events()
    await handler("ADDED", available(finalizer=False))
    await handler("MODIFIED", available(finalizer=False))  # a second event while the patch is in flight
    await settled(handler)
    assert finalizers.calls == [("uid-1", True)]
    assert [b.uid for b in handler.reconciler.index.named("team", "NIGHTLY")] == ["uid-1"]
    await handler("MODIFIED", available())
    assert finalizers.calls == [("uid-1", True)], "held already: nothing written"


async def test_adding_the_finalizer_is_retried_when_the_apiserver_fails() -> None:
    handler, _, finalizers = events()
    finalizers.failures.append(KubernetesUnavailable("connection refused"))
    await handler("ADDED", available(finalizer=False))
    await settled(handler)
    assert finalizers.calls == [("uid-1", True), ("uid-1", True)]


async def test_an_edited_spec_is_recorded_as_observed_and_a_new_backup_is_left_to_its_snapshot() -> None:
    handler, kubernetes, _ = events()
    assert unobserved_generation(body()) is None, "no status yet: the snapshot's first write records it"
    edited = available(generation=2)
    assert unobserved_generation(edited) == 2
    assert unobserved_generation(available(generation=3, deletionTimestamp="2026-05-02T00:00:00Z")) is None
    await handler("MODIFIED", edited)
    await settled(handler)
    assert kubernetes.statuses["nightly"]["observedGeneration"] == 2


async def test_a_deletion_releases_the_data_then_removes_the_finalizer() -> None:
    store = MemoryStore()
    store.objects = {"team/nightly/uid-1/node-0001.rdb": b"rdb", "team/nightly/uid-1/manifest.json": b"{}"}
    handler, kubernetes, finalizers = events(store)
    await handler("ADDED", available())
    await handler("MODIFIED", available(deletionTimestamp="2026-05-02T00:00:00Z"))
    await settled(handler)
    assert store.objects == {}
    assert finalizers.calls == [("uid-1", False)]
    assert kubernetes.reasons() == ["Deleting", "Deleted"]
    await handler("DELETED", available(deletionTimestamp="2026-05-02T00:00:00Z"))
    assert handler.reconciler.index.named("team", "nightly") == []


async def test_a_blocked_deletion_retries_and_sees_the_force_delete_annotation() -> None:
    store = MemoryStore()
    store.objects = {"team/nightly/uid-1/node-0001.rdb": b"rdb"}

    async def refuse(prefix: str) -> int:
        raise StorageFault("cannot reach S3 at http://s3.local: connection refused")

    store.delete_prefix = refuse  # type: ignore[method-assign]
    handler, kubernetes, finalizers = events(store)
    deleting = available(deletionTimestamp="2026-05-02T00:00:00Z")
    await handler("MODIFIED", deleting)
    async with asyncio.timeout(10):
        while "DeletionBlocked" not in kubernetes.reasons():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert finalizers.calls == [], "the finalizer stays while the data cannot be deleted"
    blocked = next(c for c in kubernetes.statuses["nightly"]["conditions"] if c["type"] == "DeletionBlocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "StorageUnavailable")
    forced = available(deletionTimestamp="2026-05-02T00:00:00Z", annotations={"redisbackup.io/force-delete": "true"})
    await handler("MODIFIED", forced)
    await settled(handler)
    assert kubernetes.reasons()[-1] == "ForceDeleted"
    assert finalizers.calls == [("uid-1", False)]


async def test_a_released_backup_whose_finalizer_removal_failed_is_not_released_twice() -> None:
    handler, kubernetes, finalizers = events()
    finalizers.failures.append(KubernetesUnavailable("connection refused"))
    await handler("MODIFIED", available(deletionTimestamp="2026-05-02T00:00:00Z"))
    await settled(handler)
    assert finalizers.calls == [("uid-1", False), ("uid-1", False)]
    assert kubernetes.reasons().count("Deleted") == 1


async def test_a_deletion_without_our_finalizer_is_not_ours_to_handle() -> None:
    handler, kubernetes, finalizers = events()
    await handler("MODIFIED", available(finalizer=False, deletionTimestamp="2026-05-02T00:00:00Z"))
    await settled(handler)
    assert finalizers.calls == []
    assert kubernetes.reasons() == []


async def test_deletion_stops_the_running_work_first_and_every_observer_sees_each_event() -> None:
    handler, _, _ = events()
    started, seen = asyncio.Event(), []

    async def forever(_: Mapping[str, Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    work = ObjectTasks(
        "snapshot", forever, wanted=lambda b: True, retry_delay=lambda r, f: 0.01, backoff=0.01, cancellation_timeout=5
    )
    handler.tasks = [work]
    handler.observers = [lambda type_, found: seen.append(type_)]
    await handler("ADDED", body(status={"phase": "creating"}))
    await asyncio.wait_for(started.wait(), 5)
    assert "uid-1" in work
    creating = body(status={"phase": "creating"})
    creating["metadata"].update(finalizers=[FINALIZER], deletionTimestamp="2026-05-02T00:00:00Z")
    await handler("MODIFIED", creating)
    await settled(handler)
    assert "uid-1" not in work
    assert seen == ["ADDED", "MODIFIED"]


@pytest.mark.parametrize("policy", ["Delete", "Retain"])
async def test_what_the_deletion_leaves_follows_the_deletion_policy(policy: str) -> None:
    store = MemoryStore()
    store.objects = {"team/nightly/uid-1/node-0001.rdb": b"rdb"}
    handler, _, finalizers = events(store)
    deleting = available(deletionTimestamp="2026-05-02T00:00:00Z")
    deleting["spec"]["deletionPolicy"] = policy
    await handler("MODIFIED", deleting)
    await settled(handler)
    assert bool(store.objects) is (policy == "Retain")
    assert finalizers.calls == [("uid-1", False)]
