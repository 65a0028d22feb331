"""Restoring one node into a data directory: verified against the manifest, atomic, careful with existing data."""

from __future__ import annotations

from pathlib import Path

import pytest

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import ManifestUnreadable
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.commit import read_manifest
from redisbackup.workflows.restore import (
    DataDirectoryNotEmpty,
    SnapshotNotStored,
    StoredObjectCorrupt,
    fetch_rdb,
    restore_to_directory,
    select_node,
)
from tests.unit.datapath.test_rdb_verifier import REAL_RDB
from tests.unit.restore.support import KEY, manifest, record, stored


def listing(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


async def test_the_rdb_lands_as_dump_rdb_only_after_every_check_passed(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    digest = await fetch_rdb(stored(), record(), tmp_path / "dump.rdb", progress=lambda d, t: seen.append((d, t)))
    assert (tmp_path / "dump.rdb").read_bytes() == REAL_RDB
    assert digest.size == len(REAL_RDB)
    assert seen[0] == (0, len(REAL_RDB))
    assert seen[-1] == (len(REAL_RDB), len(REAL_RDB))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (REAL_RDB[:40] + bytes([REAL_RDB[40] ^ 1]) + REAL_RDB[41:], "do not hash to its own CRC-64 trailer"),
        (REAL_RDB[:-20], "not a complete RDB"),
        (REAL_RDB + b"x", "longer than the"),
    ],
    ids=["flipped-byte", "truncated", "grown"],
)
async def test_a_damaged_object_is_refused_and_leaves_nothing(tmp_path: Path, data: bytes, expected: str) -> None:
    with pytest.raises(StoredObjectCorrupt, match=expected):
        await fetch_rdb(stored(data), record(), tmp_path / "dump.rdb")
    assert listing(tmp_path) == []


async def test_a_valid_rdb_that_is_not_the_recorded_one_is_refused(tmp_path: Path) -> None:
    other = record(sha256="0" * 64)
    with pytest.raises(StoredObjectCorrupt, match=r"does not match its manifest .*SHA-256"):
        await fetch_rdb(stored(), other, tmp_path / "dump.rdb")
    assert listing(tmp_path) == []


async def test_a_missing_object_says_the_snapshot_was_partly_deleted(tmp_path: Path) -> None:
    store = stored()
    del store.objects[KEY]
    with pytest.raises(SnapshotNotStored, match="partly deleted"):
        await fetch_rdb(store, record(), tmp_path / "dump.rdb")


async def test_a_non_empty_data_directory_is_refused_unless_forced_or_skipped(tmp_path: Path) -> None:
    (tmp_path / "dump.rdb").write_bytes(b"live data")
    (tmp_path / "appendonlydir").mkdir()
    (tmp_path / "lost+found").mkdir()
    with pytest.raises(DataDirectoryNotEmpty, match=r"not empty \(appendonlydir, dump.rdb\)"):
        await restore_to_directory(stored(), manifest(), tmp_path)
    assert (tmp_path / "dump.rdb").read_bytes() == b"live data"

    kept = await restore_to_directory(stored(), manifest(), tmp_path, skip_if_not_empty=True)
    assert (kept.digest, kept.skipped_because) == (None, ["appendonlydir", "dump.rdb"])
    assert (tmp_path / "dump.rdb").read_bytes() == b"live data"

    forced = await restore_to_directory(stored(), manifest(), tmp_path, force=True)
    assert (tmp_path / "dump.rdb").read_bytes() == REAL_RDB
    assert forced.removed == ["appendonlydir"]
    assert listing(tmp_path) == ["dump.rdb", "lost+found"]


async def test_leftovers_of_a_killed_restore_do_not_count_as_data(tmp_path: Path) -> None:
    (tmp_path / ".dump.rdb.1a2b3c4d.part").write_bytes(b"half")
    result = await restore_to_directory(stored(), manifest(), tmp_path)
    assert result.digest is not None
    assert listing(tmp_path) == ["dump.rdb"]


def test_a_cluster_snapshot_needs_a_node_group_named() -> None:
    shards = manifest(
        record(cache_node_id=None, node_group_id="0001", slots="0-8191"),
        record(cache_node_id=None, node_group_id="0002", slots="8192-16383", object_key="x/node-0002.rdb"),
        clustered=True,
    )
    with pytest.raises(ValidationFault, match=r"2 node groups \(0001, 0002\): restore it into a new cluster"):
        select_node(shards, None)
    assert select_node(shards, "0002").object_key == "x/node-0002.rdb"
    with pytest.raises(ValidationFault, match="has no node '0003'; its nodes are 0001, 0002"):
        select_node(shards, "0003")


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (b'{"junk": 0.5}', "first at snapshotName"),
        (b"{not json", "first at the document"),
        (b"\xff\xfe", "first at the document"),
        (b'{"snapshotName": "nightly", "nodeSnapshots": []}', "problem(s)"),
    ],
)
async def test_a_manifest_that_is_not_a_manifest_is_a_typed_corruption_not_a_crash_or_an_absence(
    document: bytes, where: str
) -> None:
    store = MemoryStore()
    location = SnapshotLocation(namespace="team", snapshot_name="nightly", uid="uid-1")
    await store.put_bytes(location.manifest_key, document)
    with pytest.raises(ManifestUnreadable) as refused:
        await read_manifest(store, location)
    assert refused.value.code == FaultCode.STORED_OBJECT_CORRUPT
    assert not refused.value.transient
    assert f"{store.url}/team/nightly/uid-1/manifest.json is not a snapshot manifest" in str(refused.value)
    assert where in str(refused.value)
