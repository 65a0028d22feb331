"""Copying a stored snapshot: verified byte for byte, all or nothing, and describing what its source described."""

from __future__ import annotations

import asyncio

import pytest

from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.copy import (
    SourceSnapshotCreating,
    SourceSnapshotNotFound,
    SourceSnapshotUnusable,
    check_source_snapshot,
    copied_fields,
    copy_snapshot,
)
from redisbackup.workflows.restore import StoredObjectCorrupt
from tests.unit.datapath.test_rdb_verifier import REAL_RDB
from tests.unit.restore.support import manifest, stored

TARGET = SnapshotLocation("team", "nightly-copy", "uid-2")


async def test_the_copy_has_its_own_objects_and_a_manifest_that_names_its_source() -> None:
    source, target = stored(), MemoryStore()
    copy = await copy_snapshot(source, manifest(), target, TARGET, tags={"purpose": "archive"})
    assert copy.attempt is not None
    assert copy.node_snapshots[0].object_key == f"team/nightly-copy/uid-2/{copy.attempt}/node-0001.rdb"
    assert target.objects[copy.node_snapshots[0].object_key] == REAL_RDB
    assert sorted(target.objects) == sorted(["team/nightly-copy/uid-2/manifest.json", *copy.object_keys])
    assert target.history[-1] == "team/nightly-copy/uid-2/manifest.json", "the manifest is written last"
    written = Manifest.from_json(target.objects["team/nightly-copy/uid-2/manifest.json"])
    assert written == copy
    assert (copy.snapshot_name, copy.uid, copy.tags) == ("nightly-copy", "uid-2", {"purpose": "archive"})
    assert copy.copied_from is not None
    assert (copy.copied_from.snapshot_name, copy.copied_from.uid) == ("nightly", "uid-1")
    assert copy.node_snapshots[0].sha256 == manifest().node_snapshots[0].sha256
    again = await copy_snapshot(source, manifest(), target, TARGET)
    assert again == copy, "a committed copy is returned, not made again"


async def test_a_damaged_source_object_leaves_no_copy_behind() -> None:
    damaged = bytearray(REAL_RDB)
    damaged[50] ^= 0x01
    target = MemoryStore()
    with pytest.raises(StoredObjectCorrupt):
        await copy_snapshot(stored(bytes(damaged)), manifest(), target, TARGET)
    assert target.objects == {}
    assert target.open_writers == set()


async def test_two_copies_racing_commit_one_and_leave_nothing_of_the_other() -> None:
    """Two operator processes copying one RedisBackup at once (copies take no lock): one manifest, its objects
    whole, and nothing of the attempt that lost, whichever finishes first."""
    source, target = stored(), MemoryStore()
    first, second = await asyncio.gather(
        copy_snapshot(source, manifest(), target, TARGET), copy_snapshot(source, manifest(), target, TARGET)
    )
    assert first == second, "both return the one committed copy"
    committed = Manifest.from_json(target.objects[TARGET.manifest_key])
    assert committed == first
    assert sorted(target.objects) == sorted([TARGET.manifest_key, *committed.object_keys])
    assert all(target.objects[key] == REAL_RDB for key in committed.object_keys)


def test_only_an_available_source_is_copied_and_the_others_say_whether_to_wait() -> None:
    with pytest.raises(SourceSnapshotNotFound) as missing:
        check_source_snapshot(None, namespace="team", name="nightly")
    assert missing.value.transient
    with pytest.raises(SourceSnapshotCreating) as creating:
        check_source_snapshot({"status": {"phase": "creating"}}, namespace="team", name="nightly")
    assert str(creating.value.code) == "InvalidSnapshotState"
    with pytest.raises(SourceSnapshotUnusable):
        check_source_snapshot({"status": {"phase": "failed"}}, namespace="team", name="nightly")
    deleting = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "available"}}
    with pytest.raises(SourceSnapshotUnusable, match="is deleting"):
        check_source_snapshot(deleting, namespace="team", name="nightly")
    available = {"status": {"phase": "available"}}
    assert check_source_snapshot(available, namespace="team", name="nightly") is available


def test_a_copy_keeps_what_only_its_source_knew_about_the_pods() -> None:
    source = {
        "cacheNodeType": "cpu=1,memory=2Gi",
        "nodeSnapshots": [{"cacheNodeId": "0001", "cacheNodeCreateTime": "2026-01-12T18:59:48Z", "sourcePod": "c-0"}],
    }
    fields = {"engine": "redis", "nodeSnapshots": [{"cacheNodeId": "0001", "cacheSize": "163"}]}
    assert copied_fields(source, fields) == {
        "engine": "redis",
        "cacheNodeType": "cpu=1,memory=2Gi",
        "nodeSnapshots": [
            {
                "cacheNodeId": "0001",
                "cacheSize": "163",
                "cacheNodeCreateTime": "2026-01-12T18:59:48Z",
                "sourcePod": "c-0",
            }
        ],
    }
