"""Redis misbehaving under a snapshot: killed or paused (SIGSTOP) mid-stream, a replica resyncing, a shard failing
over. Each ends available with data that restores, or failed with a typed reason, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.processes import Process
from devstack.redis_nodes import RedisNode
from devstack.wait import wait_until
from tests.e2e.operator_support import fetch_object, get
from tests.fault.audit import audit
from tests.fault.support import assert_clean, create, fill, full_syncs, slow_source, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e

LIMITS = {"snapshotAttempts": 3, "stallTimeoutSeconds": 4, "connectTimeoutSeconds": 2}


def operator_for(start_operator: StartOperator, namespace: str, s3: S3Bucket) -> RunningOperator:
    return start_operator(namespaces=[namespace], storage=s3_storage(s3), limits=LIMITS)


def streaming(node: RedisNode) -> bool:
    """The node is writing an RDB for a replica (our snapshot) right now."""
    return bool(int(node.info("persistence")["rdb_bgsave_in_progress"]))


def restart_node(node: RedisNode) -> None:
    """Start the same redis-server again on the same address (its data is gone: no persistence here)."""
    node.process = Process(f"{node.process.name}-again", node.process.argv, log_dir=node.process.log_path.parent)
    redis_nodes.wait_answers(node)


def outcome(
    kube_api: client.ApiClient, namespace: str, s3: S3Bucket, scenario: str, names: list[str], operator: Any
) -> Row:
    wait_settled(kube_api, namespace, names, timeout=180, operator=operator)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(scenario)), result, runs=len(names))
    assert_clean(row, result)
    return row


@pytest.mark.parametrize("restarted", [False, True], ids=["stays-dead", "restarted"])
def test_a_redis_killed_mid_stream_fails_typed_or_is_retaken_when_it_comes_back(
    restarted: bool,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=8, key_delay_us=2000)
    mirror.pods(source, namespace, "cache")
    operator = operator_for(start_operator, namespace, s3)
    create(kube_api, namespace, "victim", cacheClusterId="cache-001")
    wait_until(lambda: streaming(source.primary), timeout=60, what="the snapshot streaming")
    source.primary.kill()
    if restarted:
        restart_node(source.primary)
    row = outcome(
        kube_api,
        namespace,
        s3,
        f"redis SIGKILL mid-stream ({'restarted' if restarted else 'dead'})",
        ["victim"],
        operator,
    )
    assert row.available_ok == (1 if restarted else 0)
    assert row.failed_typed == (0 if restarted else 1)


@pytest.mark.parametrize(
    "pause",
    [pytest.param(1.5, marks=pytest.mark.smoke, id="short"), pytest.param(9.0, id="long")],
)
def test_a_redis_paused_mid_stream_resumes_or_is_abandoned_at_the_stall_timeout_and_retaken(
    pause: float,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    source = slow_source(redis_factory, megabytes=4, key_delay_us=1500)
    mirror.pods(source, namespace, "cache")
    operator = operator_for(start_operator, namespace, s3)
    create(kube_api, namespace, "paused", cacheClusterId="cache-001")
    wait_until(lambda: streaming(source.primary), timeout=60, what="the snapshot streaming")
    source.primary.process.signal(signal.SIGSTOP)  # the server and its RDB child: the stream goes silent
    time.sleep(pause)
    source.primary.process.signal(signal.SIGCONT)
    row = outcome(kube_api, namespace, s3, f"redis SIGSTOP {pause:g}s mid-stream", ["paused"], operator)
    syncs = full_syncs([source.primary])
    row.notes = f"{syncs} full SYNCs (stallTimeoutSeconds {LIMITS['stallTimeoutSeconds']}); " + row.notes
    assert row.available_ok == 1
    assert syncs == (1 if pause < LIMITS["stallTimeoutSeconds"] else 2)


def test_a_replica_that_is_resyncing_is_snapshotted_only_once_it_holds_the_primarys_data(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    topology = redis_factory.replicated(replicas=1, extra={"rdb-key-save-delay": "3000"})
    primary, replica = topology.nodes
    with primary.client() as c:
        for index in range(400):
            c.set(f"key-{index}", os.urandom(5000))
    redis_nodes.wait_replicas_in_sync(topology)
    mirror.pods(topology, namespace, "rep")
    operator = operator_for(start_operator, namespace, s3)
    replica.kill()
    restart_node(replica)  # empty after the restart: a full resync from the primary follows (slowly)
    create(kube_api, namespace, "resync", cacheClusterId="rep-002")
    row = outcome(kube_api, namespace, s3, "replica resyncing during the backup", ["resync"], operator)
    assert row.available_ok == 1
    body = get(kube_api, namespace, "resync")
    assert body is not None
    (node,) = body["status"]["nodeSnapshots"]
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "resync.rdb")
    restored = redis_factory.from_rdb(rdb)
    with restored.client() as fresh:
        assert fresh.dbsize() == 400, "the snapshot holds the primary's data, not the empty replica's"


def test_a_shard_failing_over_mid_snapshot_ends_with_every_shard_stored_or_a_typed_failure(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    topology = redis_factory.cluster(shards=3, replicas=1, extra={"rdb-key-save-delay": "2000"})
    with topology.cluster_client() as redis:
        for index in range(900):
            redis.set(f"key-{index}", os.urandom(5000))
    redis_nodes.wait_replicas_in_sync(topology)
    redis_nodes.wait_cluster_gossip(topology)
    mirror.statefulset(topology, namespace, "shop")
    operator = operator_for(start_operator, namespace, s3)
    create(kube_api, namespace, "failover", replicationGroupId="shop")
    replica = topology.shards[0].replicas[0]
    wait_until(lambda: any(streaming(n) for n in topology.nodes), timeout=60, what="the shards streaming")
    with replica.client() as c:
        c.execute_command("CLUSTER", "FAILOVER")
    wait_until(lambda: replica.info("replication")["role"] == "master", timeout=30, what="the replica promoted")
    row = outcome(kube_api, namespace, s3, "cluster shard failover mid-snapshot", ["failover"], operator)
    assert row.available_ok + row.failed_typed == 1
    body = get(kube_api, namespace, "failover")
    assert body is not None
    if row.available_ok:
        slots = [n["slots"] for n in body["status"]["nodeSnapshots"]]
        assert slots == [f"{a}-{b}" for a, b in redis_nodes.slot_ranges(3)]
        sizes = sum(int(n["cacheSize"]) for n in body["status"]["nodeSnapshots"])
        row.notes = f"{sizes} bytes over 3 shards; " + row.notes
