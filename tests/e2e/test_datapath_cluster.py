"""Snapshots of a real 3-shard Redis Cluster: one RDB per shard, read from replicas, each restoring its shard."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import redis_nodes
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import Topology
from redisbackup.domain.cluster import ReplicationGroupNotReady
from redisbackup.redis.topology import NotAClusterNode
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.planning import plan_cluster_snapshot
from redisbackup.workflows.snapshot import take_snapshot
from tests.e2e.datapath_support import address, assert_restores_to, connection, new_location
from tests.e2e.datapath_support import store as store  # the parametrized fixture

pytestmark = pytest.mark.e2e


async def test_each_shard_restores_to_its_primarys_data(
    redis_cluster: Topology, store: ObjectStore, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    with redis_cluster.cluster_client() as client:
        redis_nodes.fill_mixed(client, count=900)
    redis_nodes.wait_cluster_gossip(redis_cluster)
    seed = redis_cluster.primary
    plan = (await plan_cluster_snapshot("orders", [address(seed)], connection(seed))).plan
    manifest = await take_snapshot(plan, store, new_location(), connection(seed))

    assert (manifest.replication_group_id, manifest.num_node_groups) == ("orders", 3)
    shards = sorted(redis_cluster.shards, key=lambda s: s.slots[0])
    for record, shard in zip(manifest.node_snapshots, shards, strict=True):
        assert record.slots == f"{shard.slots[0]}-{shard.slots[1]}"
        # Read from the shard's replica, never from the primary serving traffic.
        assert (record.source_node.host, record.source_node.role) == (shard.replicas[0].host, "replica")
        assert record.source_node.cluster_node_id == shard.replicas[0].cluster_id
    assert [r.node_group_id for r in manifest.node_snapshots] == ["0001", "0002", "0003"]
    for record, shard in zip(manifest.node_snapshots, shards, strict=True):
        with shard.primary.client() as primary:
            await assert_restores_to(store, manifest, record.id, primary, redis_factory, tmp_path)


async def test_a_cluster_in_the_middle_of_resharding_is_refused(redis_cluster: Topology) -> None:
    source, target = redis_cluster.shards[0].primary, redis_cluster.shards[1].primary
    slot = redis_cluster.shards[0].slots[1]
    with target.client() as t, source.client() as s:
        t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.cluster_id)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.cluster_id)
        try:
            with pytest.raises(ReplicationGroupNotReady, match=f"resharding .*slot {slot} migrating") as caught:
                await plan_cluster_snapshot("orders", [address(source)], connection(source))
        finally:
            s.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
            t.execute_command("CLUSTER", "SETSLOT", slot, "STABLE")
    assert caught.value.code == "InvalidReplicationGroupState"


async def test_a_node_that_is_not_in_cluster_mode_is_refused(redis_standalone: Topology) -> None:
    node = redis_standalone.primary
    with pytest.raises(NotAClusterNode, match="not a Redis Cluster node"):
        await plan_cluster_snapshot("orders", [address(node)], connection(node))
