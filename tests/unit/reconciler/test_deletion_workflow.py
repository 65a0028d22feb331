"""Deleting a RedisBackup: Delete removes its objects, Retain keeps them, a refusing store blocks until forced."""

from __future__ import annotations

import asyncio

import pytest

from redisbackup.domain.faults import StorageFault
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.deletion import release_backup
from tests.unit.datapath.fake_redis import FakeRedis
from tests.unit.datapath.test_rdb_verifier import REAL_RDB
from tests.unit.reconciler.fakes import FakeKubernetes, backups, body, single_pod

pytestmark = pytest.mark.asyncio

STORED = {"phase": "available", "storage": "embedded", "location": "memory:///team/nightly/uid-1/"}


def stored_store() -> MemoryStore:
    store = MemoryStore()
    store.objects = {
        "team/nightly/uid-1/node-0001.rdb": b"rdb",
        "team/nightly/uid-1/manifest.json": b"{}",
        "team/nightly/uid-2/node-0001.rdb": b"a re-created backup of the same name",
    }
    return store


def deleting(status: dict[str, object] | None = None, **extra: object) -> dict[str, object]:
    found = body(status=status or STORED, **extra)  # type: ignore[arg-type]
    found["metadata"]["deletionTimestamp"] = "2026-05-02T00:00:00Z"  # type: ignore[index]
    return found


async def test_delete_removes_only_this_backups_objects() -> None:
    store, kubernetes = stored_store(), FakeKubernetes(single_pod)  # type: ignore[arg-type]
    workflow = backups(kubernetes, store)
    await release_backup(workflow, deleting())
    assert list(store.objects) == ["team/nightly/uid-2/node-0001.rdb"]
    assert kubernetes.statuses["nightly"]["phase"] == "deleting"
    assert kubernetes.reasons() == ["Deleting", "Deleted"]
    assert workflow.metrics.deletions.labels(result="deleted")._value.get() == 1


async def test_retain_keeps_every_object() -> None:
    store, kubernetes = stored_store(), FakeKubernetes(single_pod)  # type: ignore[arg-type]
    await release_backup(backups(kubernetes, store), deleting(deletionPolicy="Retain"))
    assert len(store.objects) == 3
    assert kubernetes.reasons() == ["Deleting", "Retained"]


async def test_a_refusing_store_blocks_the_deletion_until_the_user_forces_it() -> None:
    store, kubernetes = stored_store(), FakeKubernetes(single_pod)  # type: ignore[arg-type]
    workflow = backups(kubernetes, store)

    async def refuse(prefix: str) -> int:
        raise StorageFault("cannot reach S3 at http://s3.local: connection refused")

    store.delete_prefix = refuse  # type: ignore[method-assign]
    with pytest.raises(StorageFault):
        await release_backup(workflow, deleting())
    blocked = next(c for c in kubernetes.statuses["nightly"]["conditions"] if c["type"] == "DeletionBlocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "StorageUnavailable")

    forced = deleting()
    forced["metadata"]["annotations"] = {"redisbackup.io/force-delete": "true"}  # type: ignore[index]
    forced["status"] = kubernetes.statuses["nightly"]
    await release_backup(workflow, forced)
    assert kubernetes.reasons()[-1] == "ForceDeleted"
    # The manifest went first (a half-deleted snapshot never looks complete); the user gave up on the rest.
    assert sorted(store.objects) == ["team/nightly/uid-1/node-0001.rdb", "team/nightly/uid-2/node-0001.rdb"]


async def test_deleting_mid_snapshot_cancels_it_and_leaves_nothing_behind() -> None:
    store = MemoryStore()
    big = REAL_RDB[:-9] + b"\x00" * 2_000_000 + REAL_RDB[-9:]
    async with FakeRedis(rdb=big, pause_after=1_000_000) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        workflow = backups(kubernetes, store)
        snapshot = asyncio.create_task(workflow.run(body()))
        async with asyncio.timeout(10):  # until the RDB is streaming into the store
            while "uid-1" not in workflow.running_snapshots or not store.open_writers:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await release_backup(workflow, deleting(status={"phase": "creating", "storage": "embedded"}))
        with pytest.raises(asyncio.CancelledError):
            await snapshot
    assert store.objects == {}
    assert store.open_writers == set()
    assert [m[0] for m in kubernetes.marks] == ["mark", "unmark"], "the cancelled snapshot unmarked its source"
