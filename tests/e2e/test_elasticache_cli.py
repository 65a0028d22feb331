"""The `aws elasticache`-shaped commands against the real apiserver and operator: JSON field by field as the
seed's examples, aws's error lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.datasets import server_version
from devstack.fixtures.operator import RunningOperator, StartOperator, file_storage
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from redisbackup.domain.elasticache import elasticache_time
from tests.e2e.operator_support import get, wait_gone
from tests.e2e.restore_support import redisbackup

pytestmark = pytest.mark.e2e

# The seed's example outputs (making-manual-backups.txt), verbatim.
SEED_NODE_EXAMPLE = json.loads(
    '{ "Snapshot": { "Engine": "redis", "CacheParameterGroupName": "default.redis3.2", "VpcId": "vpc-91280df6", '
    '"CacheClusterId": "myNonClusteredRedis-001", "SnapshotRetentionLimit": 0, "NumCacheNodes": 1, "SnapshotName": '
    '"bkup-20150515", "CacheClusterCreateTime": "2017-01-12T18:59:48.048Z", "AutoMinorVersionUpgrade": true, '
    '"PreferredAvailabilityZone": "us-east-1c", "SnapshotStatus": "creating", "SnapshotSource": "manual", '
    '"SnapshotWindow": "08:30-09:30", "EngineVersion": "3.2.4", "NodeSnapshots": [ { "CacheSize": "", "CacheNodeId": '
    '"0001", "CacheNodeCreateTime": "2017-01-12T18:59:48.048Z" } ], "CacheSubnetGroupName": "default", "Port": 6379, '
    '"PreferredMaintenanceWindow": "wed:07:30-wed:08:30", "CacheNodeType": "cache.m3.2xlarge" } }'
)
SEED_CLUSTER_EXAMPLE = json.loads(
    '{ "Snapshot": { "Engine": "redis", "CacheParameterGroupName": "default.redis3.2.cluster.on", "VpcId": '
    '"vpc-91280df6", "NodeSnapshots": [ { "CacheSize": "", "NodeGroupId": "0001" }, { "CacheSize": "", "NodeGroupId": '
    '"0002" } ], "NumNodeGroups": 2, "SnapshotName": "bkup-20150515", "ReplicationGroupId": "myClusteredRedis", '
    '"AutoMinorVersionUpgrade": true, "SnapshotRetentionLimit": 1, "AutomaticFailover": "enabled", "SnapshotStatus": '
    '"creating", "SnapshotSource": "manual", "SnapshotWindow": "10:00-11:00", "EngineVersion": "3.2.4", '
    '"CacheSubnetGroupName": "default", "ReplicationGroupDescription": "2 shards 2 nodes each", "Port": 6379, '
    '"PreferredMaintenanceWindow": "sat:03:30-sat:04:30", "CacheNodeType": "cache.r3.large" } }'
)
# What has no meaning for Redis on Kubernetes, and is left out rather than invented (DESIGN.md §9).
NO_KUBERNETES_MEANING = {
    "CacheParameterGroupName",
    "VpcId",
    "AutoMinorVersionUpgrade",
    "PreferredAvailabilityZone",
    "SnapshotWindow",
    "CacheSubnetGroupName",
    "PreferredMaintenanceWindow",
    "ReplicationGroupDescription",
    "CacheNodeType",  # from the Pod's resources; the mirrored Pods have none
}


def aws(kube: Cluster, operator: RunningOperator, *args: str) -> tuple[int, Any, str]:
    """Run a redisbackup command with the test's kubeconfig: (exit code, parsed JSON stdout or None, stderr)."""
    result = redisbackup(*args, env={"KUBECONFIG": str(kube.kubeconfig)})
    document = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result.returncode, document, result.stderr


def pod_created(api: client.ApiClient, namespace: str, pod: str) -> str:
    created = client.CoreV1Api(api).read_namespaced_pod(pod, namespace).metadata.creation_timestamp
    return str(elasticache_time(created))


@pytest.fixture
def slow_node(redis_factory: RedisFactory) -> Topology:
    """A node that starts each snapshot 10 s after it is asked (repl-diskless-sync-delay): long enough for
    create-snapshot to answer while the snapshot is still `creating`, as ElastiCache's answer always is."""
    # 4 s was too short on a loaded machine: a second CLI process could start only after the snapshot ended.
    return redis_factory.standalone(extra={"repl-diskless-sync-delay": "10"})


def test_create_describe_delete_print_the_seeds_snapshot_field_by_field(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    slow_node: Topology,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    node = slow_node.primary
    with node.client() as redis:
        redis_nodes.fill_mixed(redis, count=50)
        engine, version = server_version(redis)
    mirror.pods(slow_node, namespace, "mynonclusteredredis")
    created_at = pod_created(kube_api, namespace, "mynonclusteredredis-001")

    code, created, stderr = aws(
        kube, operator, "create-snapshot", "--cache-cluster-id", "myNonClusteredRedis-001",
        "--snapshot-name", "bkup-20150515", "-n", namespace,
    )  # fmt: skip

    assert code == 0, f"{stderr}\n{operator.log_tail()}"
    assert created == {
        "Snapshot": {
            "SnapshotName": "bkup-20150515",
            "CacheClusterId": "myNonClusteredRedis-001",
            "SnapshotStatus": "creating",
            "SnapshotSource": "manual",
            "Engine": engine,
            "EngineVersion": version,
            "NumCacheNodes": 1,
            "CacheClusterCreateTime": created_at,
            "Port": node.port,
            "SnapshotRetentionLimit": 0,
            "NodeSnapshots": [{"CacheNodeId": "0001", "CacheSize": "", "CacheNodeCreateTime": created_at}],
        }
    }
    seed = SEED_NODE_EXAMPLE["Snapshot"]
    assert set(seed) - set(created["Snapshot"]) == NO_KUBERNETES_MEANING & set(seed)
    assert set(created["Snapshot"]) <= set(seed)
    assert [set(n) for n in created["Snapshot"]["NodeSnapshots"]] == [set(n) for n in seed["NodeSnapshots"]]

    # As ElastiCache: a snapshot being created cannot be deleted.
    code, _, stderr = aws(kube, operator, "delete-snapshot", "--snapshot-name", "bkup-20150515", "-n", namespace)
    assert code == 254
    assert stderr.startswith(
        "\nAn error occurred (InvalidSnapshotState) when calling the DeleteSnapshot operation: Snapshot bkup-20150515 "
        "is creating"
    )

    body = get(kube_api, namespace, "bkup-20150515")
    assert body is not None
    kube.kubectl(
        "wait", "-n", namespace, "--for=jsonpath={.status.phase}=available", "--timeout=60s", "rb/bkup-20150515"
    )
    code, described, stderr = aws(kube, operator, "describe-snapshots", "-n", namespace)
    assert code == 0, stderr
    size = next(n["cacheSize"] for n in get(kube_api, namespace, "bkup-20150515")["status"]["nodeSnapshots"])  # type: ignore[index]
    (snapshot,) = described["Snapshots"]
    (node_snapshot,) = snapshot.pop("NodeSnapshots")
    expected = {key: value for key, value in created["Snapshot"].items() if key != "NodeSnapshots"}
    assert snapshot == {**expected, "SnapshotStatus": "available"}
    assert set(node_snapshot) == {"CacheNodeId", "CacheSize", "CacheNodeCreateTime", "SnapshotCreateTime"}
    assert (node_snapshot["CacheNodeId"], node_snapshot["CacheSize"]) == ("0001", size)
    assert int(size) > 0

    code, deleted, stderr = aws(kube, operator, "delete-snapshot", "--snapshot-name", "bkup-20150515", "-n", namespace)
    assert code == 0, stderr
    assert deleted == {"Snapshot": {**snapshot, "SnapshotStatus": "deleting", "NodeSnapshots": [node_snapshot]}}
    wait_gone(kube_api, namespace, "bkup-20150515")

    code, nothing, stderr = aws(kube, operator, "delete-snapshot", "--snapshot-name", "bkup-20150515", "-n", namespace)
    assert (code, nothing) == (254, None)
    assert stderr == (
        "\nAn error occurred (SnapshotNotFoundFault) when calling the DeleteSnapshot operation: Snapshot bkup-20150515 "
        f'not found in namespace {namespace}: no RedisBackup there has spec.snapshotName "bkup-20150515". List them '
        f"with `redisbackup describe-snapshots -n {namespace}` or `kubectl get rb -n {namespace}`\n"
    )


@pytest.fixture
def slow_cluster(redis_cluster: Topology) -> Any:
    """The session cluster, each node starting a snapshot 4 s after it is asked (reset afterwards)."""
    for node in redis_cluster.nodes:
        with node.client() as redis:
            redis.config_set("repl-diskless-sync-delay", "4")
    yield redis_cluster
    for node in redis_cluster.nodes:
        with node.client() as redis:
            redis.config_set("repl-diskless-sync-delay", "0")


def test_a_cluster_snapshot_prints_like_the_seeds_example_3_and_its_slots_on_request(
    kube: Cluster,
    start_operator: StartOperator,
    namespace: str,
    slow_cluster: Topology,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    with slow_cluster.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=90)
    redis_nodes.wait_cluster_gossip(slow_cluster)
    mirror.statefulset(slow_cluster, namespace, "myclusteredredis")

    code, created, stderr = aws(
        kube, operator, "create-snapshot", "--replication-group-id", "myClusteredRedis",
        "--snapshot-name", "bkup-20150515", "-n", namespace,
    )  # fmt: skip

    assert code == 0, f"{stderr}\n{operator.log_tail()}"
    snapshot = created["Snapshot"]
    seed = SEED_CLUSTER_EXAMPLE["Snapshot"]
    assert set(seed) - set(snapshot) == NO_KUBERNETES_MEANING & set(seed)
    assert set(snapshot) <= set(seed)
    assert {
        key: snapshot[key] for key in ("SnapshotName", "ReplicationGroupId", "SnapshotStatus", "NumNodeGroups")
    } == {
        "SnapshotName": "bkup-20150515",
        "ReplicationGroupId": "myClusteredRedis",
        "SnapshotStatus": "creating",
        "NumNodeGroups": 3,
    }
    assert (snapshot["AutomaticFailover"], snapshot["SnapshotRetentionLimit"], snapshot["Engine"]) == (
        "enabled",
        0,
        "redis",
    )
    assert [(n["NodeGroupId"], n["CacheSize"]) for n in snapshot["NodeSnapshots"]] == [
        ("0001", ""),
        ("0002", ""),
        ("0003", ""),
    ]
    assert all("NodeGroupConfiguration" not in n for n in snapshot["NodeSnapshots"])  # only when asked for

    kube.kubectl(
        "wait", "-n", namespace, "--for=jsonpath={.status.phase}=available", "--timeout=90s", "rb/bkup-20150515"
    )
    code, described, _ = aws(
        kube, operator, "describe-snapshots", "-n", namespace, "--replication-group-id", "MYCLUSTEREDREDIS",
        "--show-node-group-config",
    )  # fmt: skip
    assert code == 0
    (shown,) = described["Snapshots"]
    ranges = [f"{first}-{last}" for first, last in redis_nodes.slot_ranges(3)]
    assert [n["NodeGroupConfiguration"] for n in shown["NodeSnapshots"]] == [
        {"NodeGroupId": f"000{i}", "Slots": slots} for i, slots in enumerate(ranges, start=1)
    ]
    code, other, _ = aws(
        kube, operator, "describe-snapshots", "-n", namespace, "--cache-cluster-id", "myclusteredredis"
    )
    assert (code, other) == (0, {"Snapshots": []})  # a cluster is not a cache cluster id

    table = redisbackup(
        "describe-snapshots", "-n", namespace, "--output", "table", env={"KUBECONFIG": str(kube.kubeconfig)}
    )
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert "DescribeSnapshots" in lines[1]
    assert any("ReplicationGroupId" in line and "myClusteredRedis" in line for line in lines)
    yaml_out = redisbackup(
        "describe-snapshots", "-n", namespace, "--output", "yaml", env={"KUBECONFIG": str(kube.kubeconfig)}
    )
    assert yaml_out.stdout.startswith("Snapshots:\n- SnapshotName: bkup-20150515\n")


def test_create_snapshot_of_a_missing_node_is_refused_like_elasticache_and_leaves_nothing(
    kube: Cluster, kube_api: client.ApiClient, start_operator: StartOperator, namespace: str, tmp_path: Path
) -> None:
    operator = start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))

    code, document, stderr = aws(
        kube,
        operator,
        "create-snapshot",
        "--cache-cluster-id",
        "nowhere-001",
        "--snapshot-name",
        "orphan",
        "-n",
        namespace,
    )

    assert (code, document) == (254, None)
    assert stderr.startswith("\nAn error occurred (CacheClusterNotFound) when calling the CreateSnapshot operation: ")
    assert "nowhere-001" in stderr
    wait_gone(kube_api, namespace, "orphan")


def test_usage_configuration_and_connection_errors_exit_with_awss_codes(kube: Cluster, tmp_path: Path) -> None:
    missing = redisbackup("create-snapshot", "--snapshot-name", "x", env={"KUBECONFIG": str(kube.kubeconfig)})
    assert missing.returncode == 252
    assert "one of the arguments --cache-cluster-id --replication-group-id is required" in missing.stderr
    unknown = redisbackup("describe-snapshots", "--bogus", env={"KUBECONFIG": str(kube.kubeconfig)})
    assert unknown.returncode == 252
    assert "unrecognized arguments: --bogus" in unknown.stderr

    no_config = redisbackup("describe-snapshots", env={"KUBECONFIG": str(tmp_path / "absent")})
    assert no_config.returncode == 253
    assert "cannot load the Kubernetes configuration" in no_config.stderr

    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text(kube.kubeconfig.read_text().replace(kube.server, "https://127.0.0.1:1"))
    unreachable = redisbackup("describe-snapshots", "-n", "default", env={"KUBECONFIG": str(nowhere)}, timeout=120)
    assert unreachable.returncode == 255
    assert "Could not reach the Kubernetes API" in unreachable.stderr
