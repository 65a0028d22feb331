"""A real RDB in a MemoryStore with its manifest, for the restore and verification unit tests."""

from __future__ import annotations

import datetime as dt
import hashlib

from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord, SourceNode
from redisbackup.storage.memory import MemoryStore
from tests.unit.datapath.test_rdb_verifier import REAL_RDB

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
KEY = "team/nightly/uid-1/node-0001.rdb"


def record(data: bytes = REAL_RDB, **overrides: object) -> NodeSnapshotRecord:
    fields: dict[str, object] = {
        "cache_node_id": "0001",
        "cache_size": str(len(data)),
        "snapshot_create_time": WHEN,
        "object_key": KEY,
        "engine": "redis",
        "engine_version": "7.0.15",
        "rdb_version": 10,
        "crc64": data[-8:][::-1].hex(),
        "crc64_verified": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "transfer": "diskless",
        "source_node": SourceNode(host="10.0.0.7", port=6379, name="cache-0"),
    }
    fields.update(overrides)
    return NodeSnapshotRecord(**fields)


def manifest(*records: NodeSnapshotRecord, clustered: bool = False) -> Manifest:
    nodes = records or (record(),)
    return Manifest(
        snapshot_name="nightly",
        namespace="team",
        uid="uid-1",
        cache_cluster_id=None if clustered else "cache-0",
        replication_group_id="shop" if clustered else None,
        engine="redis",
        engine_version="7.0.15",
        num_cache_nodes=None if clustered else 1,
        num_node_groups=len(nodes) if clustered else None,
        snapshot_create_time=WHEN,
        complete_time=WHEN,
        tool_version="test",
        node_snapshots=tuple(nodes),
    )


def stored(data: bytes = REAL_RDB) -> MemoryStore:
    store = MemoryStore()
    store.objects[KEY] = data
    return store
