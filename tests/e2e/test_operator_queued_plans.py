"""A backup queued for a slot of limits.maxConcurrentSnapshots plans when it gets the slot, not when it queued.

The wait for a slot has no bound. A Redis Cluster backup queued behind another snapshot while the cluster fails
over and reshards must record the cluster as it was when it was read — the slot ranges after the move, each shard
read from the node that is then its replica — and its stored RDBs must hold only the keys of their recorded slots
(spec.verify loads each one and checks every key's slot).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import RedisNode, Topology
from devstack.wait import wait_until
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import condition, delete, wait_for, wait_gone, wait_phase
from tests.fault.support import create

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]

MOVED = 60  # slots moved from the third shard to the first while the backup waits


def gauge(operator: RunningOperator, name: str) -> float:
    return operator.metrics().get(name, 0.0)


def shards_seen_by(node: RedisNode) -> list[tuple[str, list[str]]]:
    """(slot ranges, ids of the replicas) of every slot-owning shard, as `node` sees the cluster."""
    with node.client() as c:
        reply = c.execute_command("CLUSTER", "SHARDS")
    seen = []
    for shard in reply:
        bounds = [int(b) for b in shard[b"slots"]]
        if not bounds:
            continue
        ranges = ",".join(f"{bounds[i]}-{bounds[i + 1]}" for i in range(0, len(bounds), 2))
        replicas = sorted(m[b"id"].decode() for m in shard[b"nodes"] if m[b"role"] == b"replica")
        seen.append((ranges, replicas))
    return sorted(seen)


def is_primary(node: RedisNode) -> bool:
    return bool(node.info("replication")["role"] == "master")


def sees_primary(node: RedisNode, primary: RedisNode) -> bool:
    with node.client() as c:
        lines = c.execute_command("CLUSTER", "NODES").decode().splitlines()
    return any(line.startswith(f"{primary.cluster_id} ") and "master" in line.split()[2] for line in lines)


def all_online(node: RedisNode) -> bool:
    """`node` sees every member of every shard online (Redis 7.0 calls a replica `loading` until its offset is
    gossiped; the plan would then read the primary)."""
    with node.client() as c:
        reply = c.execute_command("CLUSTER", "SHARDS")
    return all(member[b"health"] == b"online" for shard in reply for member in shard[b"nodes"])


def wait_agreed(nodes: list[RedisNode], *, shards: int, timeout: float = 90.0) -> None:
    """Until every node sees the same shards, each with one replica, every member online."""
    deadline = time.monotonic() + timeout
    while True:
        views = {node.name: shards_seen_by(node) for node in nodes}
        online = {node.name: all_online(node) for node in nodes}
        first = next(iter(views.values()))
        agreed = all(view == first for view in views.values()) and len(first) == shards
        if agreed and all(online.values()) and all(len(replicas) == 1 for _, replicas in first):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the cluster did not settle: views {views}, all online {online}")
        time.sleep(0.2)


def fail_over(replica: RedisNode, everyone: list[RedisNode]) -> None:
    """CLUSTER FAILOVER on `replica`; returns when every node knows it as a primary."""
    with replica.client() as c:
        c.execute_command("CLUSTER", "FAILOVER")
    wait_until(lambda: all(sees_primary(node, replica) for node in everyone), timeout=60, what="the replica promoted")


def move_slots(source: RedisNode, target: RedisNode, slots: range, everyone: list[RedisNode]) -> int:
    """Migrate `slots` with their keys from `source` to `target` (what `redis-cli --cluster reshard` does)."""
    moved = 0
    assert source.cluster_id
    assert target.cluster_id
    others = [node for node in everyone if node not in (source, target) and is_primary(node)]
    with source.client() as s, target.client() as t:
        for slot in slots:
            t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.cluster_id)
            s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.cluster_id)
            while keys := s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                s.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
            for node in (target, source, *others):
                with node.client() as c:
                    c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.cluster_id)
    return moved


def manifest_of(s3: S3Bucket, body: dict[str, Any]) -> dict[str, Any]:
    location = f"{body['metadata']['namespace']}/{body['spec']['snapshotName']}/{body['metadata']['uid']}/"
    raw = s3.client().get_object(Bucket=s3.bucket, Key=location + "manifest.json")["Body"].read()
    document: dict[str, Any] = json.loads(raw)
    return document


def test_a_cluster_backup_queued_while_its_cluster_fails_over_and_reshards_records_the_cluster_it_read(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    # The snapshot ahead in the queue: a node whose fork sleeps 100 ms per key, far longer than the test needs.
    blocker = redis_factory.standalone(extra={"rdb-key-save-delay": "100000"})
    with blocker.primary.client() as c:
        write_random(c, megabytes=4)
    mirror.pods(blocker, namespace, "slow")
    cluster: Topology = redis_factory.cluster(shards=3, replicas=1)
    with cluster.cluster_client() as rc:
        redis_nodes.fill_mixed(rc, count=1500)
    redis_nodes.wait_cluster_gossip(cluster)
    mirror.statefulset(cluster, namespace, "shop")
    pods = {node.cluster_id: f"shop-{index}" for index, node in enumerate(cluster.nodes)}
    operator = start_operator(
        namespaces=[namespace], storage=s3_storage(s3), limits={"maxConcurrentSnapshots": 1, "snapshotAttempts": 10}
    )

    create(kube_api, namespace, "ahead", cacheClusterId="slow-001")
    wait_until(lambda: gauge(operator, "redisbackup_backups_in_flight") == 1, timeout=60, what="the first snapshot")
    create(kube_api, namespace, "queued", replicationGroupId="shop", verify=True)
    wait_until(lambda: gauge(operator, "redisbackup_backups_queued") == 1, timeout=60, what="the backup queued")

    # While it waits: shard 1 fails over (its replica becomes the primary), then slots move to it from shard 3.
    first, third = cluster.shards[0], cluster.shards[2]
    old_primary, promoted = first.primary, first.replicas[0]
    fail_over(promoted, cluster.nodes)
    keys_moved = move_slots(third.primary, promoted, range(third.slots[0], third.slots[0] + MOVED), cluster.nodes)
    assert keys_moved > 0, "the moved slots carry keys, so a stale slot record would show in the stored RDB"
    wait_agreed(cluster.nodes, shards=3)
    assert gauge(operator, "redisbackup_backups_queued") == 1, "the backup was still queued when the cluster changed"

    delete(kube_api, namespace, "ahead")  # frees the slot
    wait_gone(kube_api, namespace, "ahead", timeout=90)
    body = wait_phase(kube_api, namespace, "queued", "available", timeout=180, operator=operator)

    shards = body["status"]["nodeSnapshots"]
    moved_end = third.slots[0] + MOVED - 1
    assert [s["slots"] for s in shards] == [
        f"{first.slots[0]}-{first.slots[1]},{third.slots[0]}-{moved_end}",
        f"{cluster.shards[1].slots[0]}-{cluster.shards[1].slots[1]}",
        f"{moved_end + 1}-{third.slots[1]}",
    ], "the slot ranges of the cluster as it was read, after the reshard"
    assert shards[0]["sourcePod"] == pods[old_primary.cluster_id], "shard 1 is read from its replica of now"
    recorded = manifest_of(s3, body)["nodeSnapshots"][0]["sourceNode"]
    assert (recorded["role"], recorded["clusterNodeId"]) == ("replica", old_primary.cluster_id)
    assert not is_primary(old_primary)

    verified = wait_for(
        kube_api,
        namespace,
        "queued",
        lambda b: any(c["type"] == "Verified" for c in b["status"].get("conditions") or []),
        what="verified",
        timeout=180,
        operator=operator,
    )
    assert condition(verified, "Verified")["status"] == "True", condition(verified, "Verified")
    loaded = sum(node.get("keys", 0) for node in verified["status"]["verification"]["nodes"])
    total = 0
    for node in filter(is_primary, cluster.nodes):
        with node.client() as c:
            total += c.dbsize()
    assert loaded == total, "every key, each in exactly one shard's RDB"
