"""Snapshots of single nodes on real redis-server, into a directory and into S3, restored and compared key by key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack import redis_nodes
from devstack.datasets import server_version, written_rdb_version
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import Topology
from redisbackup.domain.plan import plan_single_node
from redisbackup.redis.replication import open_rdb_stream
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.commit import read_manifest
from redisbackup.workflows.snapshot import take_snapshot
from tests.e2e.datapath_support import address, assert_restores_to, connection, new_location
from tests.e2e.datapath_support import store as store  # the parametrized fixture

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("diskless", [True, False], ids=["diskless", "disk-based"])
async def test_a_standalone_node_restores_with_every_key(
    redis_standalone: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path, diskless: bool
) -> None:
    node = redis_standalone.primary
    redis_standalone.set_diskless(diskless)
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=700)
        _, version = server_version(client)
        rdb_version = written_rdb_version(client)
    location = new_location()
    reports: list[tuple[int, int | None]] = []
    manifest = await take_snapshot(
        plan_single_node("cache-standalone", address(node)),
        store,
        location,
        connection(node),
        progress=lambda done, total: reports.append((done, total)),
    )
    record = manifest.node_snapshots[0]
    assert record.transfer == ("diskless" if diskless else "disk")
    assert (record.cache_node_id, record.rdb_version, record.engine_version) == ("0001", rdb_version, version)
    assert reports[-1] == (record.size, record.size if not diskless else None)
    assert await read_manifest(store, location) == manifest
    with node.client() as client:
        await assert_restores_to(store, manifest, "0001", client, redis_factory, tmp_path)


async def test_a_replica_is_read_without_touching_the_primary(
    redis_replicated: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    primary, replica = redis_replicated.primary, redis_replicated.replicas[1]
    with primary.client() as client:
        redis_nodes.fill_mixed(client, count=500)
    redis_nodes.wait_replicas_in_sync(redis_replicated)
    forks_before = primary.info("stats")["total_forks"]
    manifest = await take_snapshot(
        plan_single_node("cache-002", address(replica)), store, new_location(), connection(replica)
    )
    assert manifest.node_snapshots[0].source_node.role == "replica"
    assert primary.info("stats")["total_forks"] == forks_before
    with primary.client() as client:
        await assert_restores_to(store, manifest, "0001", client, redis_factory, tmp_path)


async def test_a_password_protected_node(
    redis_password: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    node = redis_password.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=300)
        manifest = await take_snapshot(plan_single_node("p", address(node)), store, new_location(), connection(node))
        await assert_restores_to(store, manifest, "0001", client, redis_factory, tmp_path)


async def test_an_acl_user_with_only_the_backup_permissions(
    redis_acl: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    node = redis_acl.primary
    assert node.username == "backup"
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=300)
        manifest = await take_snapshot(plan_single_node("a", address(node)), store, new_location(), connection(node))
        await assert_restores_to(store, manifest, "0001", client, redis_factory, tmp_path)


async def test_a_tls_node(redis_tls: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path) -> None:
    node = redis_tls.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=300)
        manifest = await take_snapshot(plan_single_node("t", address(node)), store, new_location(), connection(node))
        await assert_restores_to(store, manifest, "0001", client, redis_factory, tmp_path)


async def test_the_replica_link_is_gone_once_the_snapshot_is_stored(
    redis_standalone: Topology, store: ObjectStore
) -> None:
    node = redis_standalone.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=100)
        await take_snapshot(plan_single_node("s", address(node)), store, new_location(), connection(node))
        # We closed before storing; the server drops the client on its next event-loop turn.
        for _ in range(100):  # at most 5 s
            if client.info("replication")["connected_slaves"] == 0:
                break
            await asyncio.sleep(0.05)
        assert client.info("replication")["connected_slaves"] == 0
        assert [c for c in client.client_list() if "S" in c["flags"]] == []


@pytest.mark.parametrize("diskless", [True, False], ids=["diskless", "disk-based"])
async def test_a_finished_stream_has_left_no_replica_on_the_server(redis_standalone: Topology, diskless: bool) -> None:
    """The server drops an rdb-only replica itself when its transfer is over: a snapshot ends after that, so the next
    one (and limits.maxConcurrentSnapshots) never overlaps the server's last one."""
    node = redis_standalone.primary
    redis_standalone.set_diskless(diskless)
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=300)
    async with open_rdb_stream(address(node), connection(node)) as stream:
        size = 0
        async for chunk in stream:
            size += len(chunk)
        assert stream.complete
        assert stream.rdb_only
        with node.client() as client:
            assert client.client_list(_type="replica") == [], "the server still lists our link as a replica"
    assert size > 300
