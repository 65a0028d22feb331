"""ElastiCache's three CreateSnapshot examples on real topologies: a node with replicas, and a Redis Cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from redis.exceptions import ResponseError

from devstack import redis_nodes, versions
from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from redisbackup.domain.elasticache import snapshot_document_from_body
from tests.e2e.operator_support import (
    apply,
    assert_restores,
    assert_stored_rdb,
    condition,
    fetch_object,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


def full_syncs(node: redis_nodes.RedisNode) -> int:
    return int(node.info("stats")["sync_full"])


def test_a_statefulset_with_replicas_is_refused_until_a_node_is_named_then_the_replica_is_read(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_replicated: Topology,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    primary, replica = redis_replicated.nodes[0], redis_replicated.nodes[1]
    with primary.client() as redis:
        redis_nodes.fill_mixed(redis, count=300)
    redis_nodes.wait_replicas_in_sync(redis_replicated)
    mirror.statefulset(redis_replicated, namespace, "mycluster")

    apply(kube, namespace, "whole", snapshotName="whole", cacheClusterId="mycluster")
    refused = wait_phase(kube_api, namespace, "whole", "failed", operator=operator)
    failed = condition(refused, "Failed")
    assert failed["reason"] == "InvalidParameterCombination"
    assert "the cluster has replicas, so name a node, e.g. mycluster-1" in failed["message"]
    assert s3.keys() == [], "a refused backup stores nothing"

    primary_syncs = full_syncs(primary)
    apply(kube, namespace, "from-replica", snapshotName="from-replica", cacheClusterId="myCluster-1")
    body = wait_phase(kube_api, namespace, "from-replica", "available", operator=operator)

    (node,) = body["status"]["nodeSnapshots"]
    assert node["sourcePod"] == "mycluster-1"
    assert full_syncs(primary) == primary_syncs, "the primary never forked for the snapshot"
    assert full_syncs(replica) >= 1
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "replica.rdb")
    assert_stored_rdb(rdb, node)
    with primary.client() as redis:
        assert_restores(rdb, redis, redis_factory)


def test_a_redis_cluster_is_snapshotted_one_rdb_per_shard_with_its_slots(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_cluster: Topology,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    with redis_cluster.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=600)
    redis_nodes.wait_cluster_gossip(redis_cluster)
    mirror.statefulset(redis_cluster, namespace, "myclusteredredis")

    # ElastiCache's example 3: a cluster is named by its replicationGroupId.
    apply(kube, namespace, "bkup-20150515", snapshotName="bkup-20150515", replicationGroupId="myClusteredRedis")
    body = wait_phase(kube_api, namespace, "bkup-20150515", "available", operator=operator)

    status = body["status"]
    assert (status["replicationGroupId"], status["numNodeGroups"], status["automaticFailover"]) == (
        "myClusteredRedis",
        3,
        "enabled",
    )
    assert "cacheClusterId" not in status
    shards = status["nodeSnapshots"]
    assert [s["nodeGroupId"] for s in shards] == ["0001", "0002", "0003"]
    assert [s["slots"] for s in shards] == [f"{first}-{last}" for first, last in redis_nodes.slot_ranges(3)]
    assert sum(int(s["cacheSize"]) for s in shards) == status["totalBytes"]
    pods = dict(zip([f"myclusteredredis-{i}" for i in range(6)], redis_cluster.nodes, strict=True))
    for shard, topology_shard in zip(shards, redis_cluster.shards, strict=True):
        assert pods[shard["sourcePod"]] in topology_shard.replicas, "each shard is read from its replica"
        rdb = fetch_object(s3, shard["objectKey"], tmp_path / f"shard-{shard['nodeGroupId']}.rdb")
        assert_stored_rdb(rdb, shard)
        with topology_shard.primary.client() as redis:
            assert_restores(rdb, redis, redis_factory)  # every key of the shard, and only those

    snapshot = snapshot_document_from_body(body)["Snapshot"]
    assert snapshot["NumNodeGroups"] == 3
    assert [n["NodeGroupConfiguration"]["Slots"] for n in snapshot["NodeSnapshots"]] == [s["slots"] for s in shards]


def test_a_redis_6_cluster_without_cluster_shards_is_snapshotted_from_cluster_nodes(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    tmp_path: Path,
) -> None:
    """Redis before 7.0 answers CLUSTER SHARDS with "unknown subcommand": that is no transient fault to retry until
    snapshotAttempts run out, but the sign to read the shards from CLUSTER NODES (here on Debian's 6.0.16)."""
    old = RedisFactory(tmp_path / "redis-6.0", versions.release("redis-6.0").ensure())
    try:
        cluster = old.cluster()
        with cluster.primary.client() as redis:
            version = str(redis.info("server")["redis_version"])
            assert version.startswith("6."), version
            with pytest.raises(ResponseError, match=r"(?i)unknown subcommand"):
                redis.execute_command("CLUSTER", "SHARDS")
        with cluster.cluster_client() as redis:
            redis_nodes.fill_mixed(redis, count=300)
        redis_nodes.wait_replicas_in_sync(cluster)  # (wait_cluster_gossip reads CLUSTER SHARDS, which 6.0 lacks)
        mirror.statefulset(cluster, namespace, "legacy")
        operator = start_operator(namespaces=[namespace], storage=s3_storage(s3), limits={"snapshotAttempts": 2})

        apply(kube, namespace, "legacy", snapshotName="legacy", replicationGroupId="legacy")
        body = wait_phase(kube_api, namespace, "legacy", "available", timeout=120, operator=operator)

        status = body["status"]
        assert (status["engine"], status["engineVersion"], status["numNodeGroups"]) == ("redis", version, 3)
        shards = status["nodeSnapshots"]
        assert [s["slots"] for s in shards] == [f"{first}-{last}" for first, last in redis_nodes.slot_ranges(3)]
        pods = dict(zip([f"legacy-{i}" for i in range(6)], cluster.nodes, strict=True))
        for shard, topology_shard in zip(shards, cluster.shards, strict=True):
            assert pods[shard["sourcePod"]] in topology_shard.nodes
            rdb = fetch_object(s3, shard["objectKey"], tmp_path / f"legacy-{shard['nodeGroupId']}.rdb")
            assert_stored_rdb(rdb, shard)
            with topology_shard.primary.client() as redis:
                assert_restores(rdb, redis, old)  # into 6.0 (DUMP payloads are per version): every key of the shard
    finally:
        old.stop()


def test_a_cluster_node_named_as_cache_cluster_id_is_refused_with_the_replication_group_to_use(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_cluster: Topology,
    mirror: Mirror,
) -> None:
    operator = start_operator(namespaces=[namespace])
    mirror.statefulset(redis_cluster, namespace, "shop")
    apply(kube, namespace, "one-shard", snapshotName="one-shard", cacheClusterId="shop-3")
    failed = condition(wait_phase(kube_api, namespace, "one-shard", "failed", operator=operator), "Failed")
    assert failed["reason"] == "InvalidParameterCombination"
    assert "create a RedisBackup with spec.replicationGroupId: shop" in failed["message"]
