"""take_snapshot end to end over scripted servers and the in-memory store: commit rules and clean failure."""

from __future__ import annotations

import asyncio
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
from redisbackup.workflows.commit import StoreAttempt, read_manifest
from redisbackup.workflows.snapshot import delete_snapshot, take_snapshot
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
    assert manifest.attempt is not None
    rdb_key = f"team-a/nightly/1234-abcd/{manifest.attempt}/node-0001.rdb"
    assert store.history == [rdb_key, "team-a/nightly/1234-abcd/manifest.json"]
    assert store.objects[rdb_key] == REAL_RDB
    assert Manifest.from_json(store.objects[LOCATION.manifest_key]) == manifest
    assert manifest.node_snapshots[0].object_key == rdb_key
    node = manifest.node_snapshots[0]
    assert (node.cache_node_id, node.cache_size, node.rdb_version) == ("0001", str(len(REAL_RDB)), 10)
    assert node.sha256 == hashlib.sha256(REAL_RDB).hexdigest()
    assert node.crc64 == REAL_RDB[-8:][::-1].hex()
    assert node.transfer == "disk"
    assert node.source_node.name == "cache-1-0"
    assert (manifest.cache_cluster_id, manifest.num_cache_nodes, manifest.engine_version) == ("cache-1", 1, "7.0.15")
    assert reports[-1] == (len(REAL_RDB), len(REAL_RDB))


async def test_a_slow_stream_shows_its_first_bytes_long_before_it_ends() -> None:
    """Progress from a stream's reader thread is batched by size and by time: an RDB that trickles in (a busy
    server) shows its bytes as they come, not only once megabytes have arrived."""
    reports: list[int] = []
    rdb = REAL_RDB * 30
    async with FakeRedis(rdb=rdb, transfer="disk", segments=[len(REAL_RDB)] * 30, segment_delay=0.1) as server:
        plan = plan_single_node("cache-1", NodeAddress(server.host, server.port))
        store = MemoryStore()
        manifest = await take_snapshot(
            plan,
            store,
            LOCATION,
            ConnectionSettings(),
            timeouts=FAST,
            progress=lambda done, total: reports.append(done),
        )
    assert [done for done in reports if 0 < done < len(rdb)], f"no progress between start and end: {reports}"
    assert reports[-1] == len(rdb)
    assert store.objects[manifest.node_snapshots[0].object_key] == rdb


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
    assert manifest.attempt is not None
    assert sorted(store.objects) == sorted(
        [LOCATION.manifest_key]
        + [LOCATION.node_key(node, attempt=manifest.attempt) for node in ("0001", "0002", "0003")]
    )


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


async def test_leftovers_of_other_attempts_are_removed_once_the_snapshot_is_committed() -> None:
    store = MemoryStore()
    await store.put_bytes(LOCATION.directory + "node-0002.rdb", b"half an upload from an older operator")
    await store.put_bytes(LOCATION.node_key("0001", attempt="crashed"), b"an attempt killed mid-upload")
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        manifest = await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST, attempt="ours")
    assert sorted(store.objects) == sorted([LOCATION.manifest_key, LOCATION.node_key("0001", attempt="ours")])
    assert manifest.attempt == "ours"


async def test_an_attempt_failing_after_another_committed_removes_its_own_objects_and_nothing_else() -> None:
    """Two operator processes at one backup (a rolling update): the old one's attempt fails (or is cancelled) after
    the new one committed; its cleanup must leave the committed snapshot whole."""
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB, pause_after=100) as stalling, FakeRedis(rdb=REAL_RDB) as healthy:
        old = asyncio.create_task(
            take_snapshot(
                plan_single_node("c", NodeAddress(stalling.host, stalling.port)),
                store,
                LOCATION,
                ConnectionSettings(),
                timeouts=FAST,
                attempt="old",
            )
        )
        await asyncio.sleep(0.3)  # the old attempt streams (and stalls)
        committed = await take_snapshot(
            plan_single_node("c", NodeAddress(healthy.host, healthy.port)),
            store,
            LOCATION,
            ConnectionSettings(),
            timeouts=FAST,
            attempt="new",
        )
        with pytest.raises(ConnectionLost):
            await old
    assert committed.attempt == "new"
    assert sorted(store.objects) == sorted([LOCATION.manifest_key, LOCATION.node_key("0001", attempt="new")])
    assert await read_manifest(store, LOCATION) == committed
    assert store.objects[committed.node_snapshots[0].object_key] == REAL_RDB


async def test_an_attempt_that_loses_the_commit_drops_its_objects_and_returns_the_winner() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        first = await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST, attempt="first")
    # A second attempt that had started before the first one committed, now at its own commit:
    second = StoreAttempt(store, LOCATION, "second")
    await store.put_bytes(second.key("0001"), REAL_RDB)
    won = await second.commit(first.model_copy(update={"attempt": "second"}))
    await second.abandon()
    assert won == first
    assert sorted(store.objects) == sorted([LOCATION.manifest_key, LOCATION.node_key("0001", attempt="first")])


class SlowCommits(MemoryStore):
    """A store whose create-only writes land `delay` seconds after they are asked for, cancelled or not."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.commit_started = asyncio.Event()

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        self.commit_started.set()
        await asyncio.sleep(self.delay)
        return await super().put_if_absent(key, data)


async def test_an_attempt_cancelled_while_its_commit_lands_keeps_what_it_committed() -> None:
    store = SlowCommits(delay=0.5)
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        task = asyncio.create_task(take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST))
        await store.commit_started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    manifest = await read_manifest(store, LOCATION)
    assert manifest is not None, "the commit landed"
    assert sorted(store.objects) == sorted([LOCATION.manifest_key, *manifest.object_keys])
    assert store.objects[manifest.node_snapshots[0].object_key] == REAL_RDB, "the committed RDB is still there"


async def test_the_attempt_of_a_process_that_is_gone_is_removed_even_when_this_one_fails() -> None:
    store = MemoryStore()
    await store.put_bytes(LOCATION.node_key("0001", attempt="dead"), b"left by an operator killed mid-upload")
    async with FakeRedis(rdb=REAL_RDB, cut_after=100) as server:
        with pytest.raises(ConnectionLost):
            await take_snapshot(
                plan_single_node("c", NodeAddress(server.host, server.port)),
                store,
                LOCATION,
                ConnectionSettings(),
                timeouts=FAST,
                abandoned=["dead"],
            )
    assert store.objects == {}


async def test_a_snapshot_cancelled_again_and_again_ends_only_once_its_commit_has_landed() -> None:
    # The deletion cancels the snapshot (and so does the end of its task) and waits for the task to end before it
    # lists what to delete: a task that ended while its commit was still in flight left a manifest and an RDB
    # behind the deletion (make faults, operator SIGKILL x30: two orphans).
    store = SlowCommits(delay=0.5)
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        task = asyncio.create_task(take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST))
        await store.commit_started.wait()
        for _ in range(5):
            task.cancel()
            await asyncio.sleep(0.02)
        with pytest.raises(asyncio.CancelledError):
            await task
    assert LOCATION.manifest_key in store.objects, "the commit landed before the task ended"
    assert await delete_snapshot(store, LOCATION) == 1
    assert store.objects == {}, "so a deletion after it finds everything"


async def test_deleting_removes_the_manifest_and_every_rdb() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        plan = plan_single_node("c", NodeAddress(server.host, server.port))
        await take_snapshot(plan, store, LOCATION, ConnectionSettings(), timeouts=FAST)
    assert await delete_snapshot(store, LOCATION) == 1
    assert store.objects == {}
    assert await read_manifest(store, LOCATION) is None
