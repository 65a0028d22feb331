"""take_snapshot end to end over scripted servers and the in-memory store: commit rules and clean failure."""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack

import pytest

from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.plan import NodeTarget, SlotRange, SnapshotPlan, plan_single_node
from redisbackup.domain.rdb import ChecksumMismatch
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.faults import ConnectionLost
from redisbackup.storage.base import StorageUnavailable
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.snapshot import delete_snapshot, read_manifest, take_snapshot
from tests.unit.datapath.fake_redis import FakeRedis
from tests.unit.datapath.test_rdb_verifier import REAL_RDB

LOCATION = SnapshotLocation(namespace="team-a", snapshot_name="nightly", uid="1234-abcd")
FAST = Timeouts(connect=2, reply=2, first_byte=2, stall=1)


def damaged(rdb: bytes, position: int) -> bytes:
    flipped = bytearray(rdb)
    flipped[position] ^= 0x20
    return bytes(flipped)


def cluster_plan(servers: list[FakeRedis]) -> SnapshotPlan:
    per_shard = 16384 // len(servers)
    return SnapshotPlan(
        kind="replicationGroup",
        source_id="orders",
        nodes=tuple(
            NodeTarget(
                id=f"{i + 1:04d}",
                address=NodeAddress(s.host, s.port),
                role="replica",
                slots=(SlotRange(i * per_shard, (i + 1) * per_shard - 1),),
            )
            for i, s in enumerate(servers)
        ),
    )


async def test_a_single_node_snapshot_stores_the_rdb_and_then_the_manifest() -> None:
    store = MemoryStore()
    reports: list[tuple[int, int | None]] = []
    async with FakeRedis(rdb=REAL_RDB, transfer="disk") as server:
        plan = plan_single_node("cache-1", NodeAddress(server.host, server.port), name="cache-1-0")
        manifest = await take_snapshot(
            plan, store, LOCATION, ConnectionSettings(), timeouts=FAST, progress=lambda d, t: reports.append((d, t))
        )
    assert store.history == ["team-a/nightly/1234-abcd/node-0001.rdb", "team-a/nightly/1234-abcd/manifest.json"]
    assert store.objects["team-a/nightly/1234-abcd/node-0001.rdb"] == REAL_RDB
    assert Manifest.from_json(store.objects[LOCATION.manifest_key]) == manifest
    node = manifest.node_snapshots[0]
    assert (node.cache_node_id, node.cache_size, node.rdb_version) == ("0001", str(len(REAL_RDB)), 10)
    assert node.sha256 == hashlib.sha256(REAL_RDB).hexdigest()
    assert node.crc64 == REAL_RDB[-8:][::-1].hex()
    assert node.transfer == "disk"
    assert node.source_node.name == "cache-1-0"
    assert (manifest.cache_cluster_id, manifest.num_cache_nodes, manifest.engine_version) == ("cache-1", 1, "7.0.15")
    assert reports[-1] == (len(REAL_RDB), len(REAL_RDB))


async def test_a_cluster_snapshot_lists_node_groups_with_their_slots() -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(FakeRedis(rdb=REAL_RDB)) for _ in range(3)]
        manifest = await take_snapshot(cluster_plan(servers), store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert [(n.node_group_id, n.slots) for n in manifest.node_snapshots] == [
        ("0001", "0-5460"),
        ("0002", "5461-10921"),
        ("0003", "10922-16382"),
    ]
    assert (manifest.replication_group_id, manifest.num_node_groups) == ("orders", 3)
    assert sorted(store.objects) == [LOCATION.directory + f for f in
                                     ("manifest.json", "node-0001.rdb", "node-0002.rdb", "node-0003.rdb")]  # fmt: skip


async def test_a_flipped_byte_in_one_shard_leaves_nothing_of_any_shard() -> None:
    store = MemoryStore()
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(FakeRedis(rdb=REAL_RDB)),
            await stack.enter_async_context(FakeRedis(rdb=damaged(REAL_RDB, 120))),
            await stack.enter_async_context(FakeRedis(rdb=REAL_RDB)),
        ]
        with pytest.raises(ChecksumMismatch, match=f"127.0.0.1:{servers[1].port}"):
            await take_snapshot(cluster_plan(servers), store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert store.objects == {}
    assert store.open_writers == set()


async def test_a_node_lost_mid_stream_cancels_the_others_and_leaves_nothing() -> None:
    store = MemoryStore()
    big = REAL_RDB[:-9] + b"\x00" * 2_000_000 + REAL_RDB[-9:]  # CRC no longer matters: the cut comes first
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(FakeRedis(rdb=big, pause_after=1_000_000)),  # would stall for a while
            await stack.enter_async_context(FakeRedis(rdb=big, transfer="disk", cut_after=500_000)),
        ]
        with pytest.raises(ConnectionLost, match="after 500000 of"):
            await take_snapshot(cluster_plan(servers), store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert store.objects == {}
    assert store.open_writers == set()


async def test_a_storage_failure_is_raised_as_is_and_leaves_nothing() -> None:
    store = MemoryStore(fail_after_bytes=50)
    async with FakeRedis(rdb=REAL_RDB) as server:
        with pytest.raises(StorageUnavailable):
            await take_snapshot(
                plan_single_node("c", NodeAddress(server.host, server.port)), store, LOCATION, ConnectionSettings()
            )
    assert store.objects == {}


async def test_a_committed_snapshot_is_returned_again_without_asking_redis() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        first = await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST)
        syncs = sum(c[0] == b"SYNC" for c in server.commands)
        again = await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert again == first
    assert sum(c[0] == b"SYNC" for c in server.commands) == syncs == 1


async def test_leftovers_of_an_interrupted_attempt_are_replaced() -> None:
    store = MemoryStore()
    await store.put_bytes(LOCATION.directory + "node-0002.rdb", b"half an upload from a crashed operator")
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert sorted(store.objects) == [LOCATION.manifest_key, LOCATION.node_key("0001")]


async def test_deleting_removes_the_manifest_and_every_rdb() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert await delete_snapshot(store, LOCATION) == 1
    assert store.objects == {}
    assert await read_manifest(store, LOCATION) is None
