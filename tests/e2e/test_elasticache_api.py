"""The ElastiCache API with the clients users have — the aws CLI v1 and boto3 — against the real control plane,
the real operator and real redis-servers: the seed's manual-backup walk-through, cache clusters, replication groups,
tags, pagination through botocore's paginator, and aws's output formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.elasticache_api import Key, RunningApi
from devstack.fixtures.operator import StartOperator, file_storage
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.elasticache_api_support import aws, aws_text, create_backups, error_line
from tests.e2e.operator_support import get, wait_gone
from tests.e2e.restore_support import redisbackup

pytestmark = pytest.mark.e2e


@pytest.fixture
def slow_node(redis_factory: RedisFactory) -> Topology:
    """A node that starts each snapshot 10 s after it is asked, so CreateSnapshot answers while it is creating
    (and a loaded machine still runs the next aws command before it ends)."""
    return redis_factory.standalone(extra={"repl-diskless-sync-delay": "10"})


def arn(namespace: str, kind: str, name: str) -> str:
    return f"arn:aws:elasticache:us-east-1:{namespace}:{kind}:{name}"


def wait_available(kube: Cluster, namespace: str, name: str) -> None:
    kube.kubectl("wait", "-n", namespace, "--for=jsonpath={.status.phase}=available", "--timeout=90s", f"rb/{name}")


def test_the_seeds_walk_through_with_aws_elasticache(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    elasticache_api: RunningApi,
    api_user: Key,
    namespace: str,
    slow_node: Topology,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    node = slow_node.primary
    with node.client() as redis:
        redis_nodes.fill_mixed(redis, count=50)
    mirror.pods(slow_node, namespace, "mynonclusteredredis")
    api = elasticache_api

    code, clusters, stderr = aws(api, api_user, "describe-cache-clusters", "--show-cache-node-info")
    assert code == 0, stderr
    (cluster,) = clusters["CacheClusters"]
    assert cluster["CacheClusterId"] == "mynonclusteredredis-001"
    assert (cluster["CacheClusterStatus"], cluster["Engine"], cluster["NumCacheNodes"]) == ("available", "redis", 1)
    assert cluster["CacheNodes"][0]["Endpoint"] == {"Address": node.host, "Port": node.port}
    assert cluster["ARN"] == arn(namespace, "cluster", "mynonclusteredredis-001")

    code, created, stderr = aws(
        api, api_user, "create-snapshot", "--cache-cluster-id", "myNonClusteredRedis-001",
        "--snapshot-name", "bkup-20150515",
    )  # fmt: skip
    assert code == 0, f"{stderr}\n{operator.log_tail()}\n{api.log_tail()}"
    snapshot = created["Snapshot"]
    assert {k: snapshot[k] for k in ("SnapshotName", "CacheClusterId", "SnapshotStatus", "SnapshotSource")} == {
        "SnapshotName": "bkup-20150515",
        "CacheClusterId": "myNonClusteredRedis-001",
        "SnapshotStatus": "creating",
        "SnapshotSource": "manual",
    }
    assert (snapshot["Engine"], snapshot["Port"], snapshot["NumCacheNodes"]) == ("redis", node.port, 1)
    assert snapshot["ARN"] == arn(namespace, "snapshot", "bkup-20150515")
    assert snapshot["NodeSnapshots"][0]["CacheNodeId"] == "0001"
    body = get(kube_api, namespace, "bkup-20150515")
    assert body is not None
    assert body["spec"] == {  # what was asked for, and the CRD's defaults
        "snapshotName": "bkup-20150515",
        "cacheClusterId": "myNonClusteredRedis-001",
        "deletionPolicy": "Delete",
        "verify": False,
    }

    code, _, stderr = aws(api, api_user, "delete-snapshot", "--snapshot-name", "bkup-20150515")
    assert code == 255
    assert stderr.startswith(f"\n{error_line('InvalidSnapshotState', 'DeleteSnapshot')}Snapshot bkup-20150515 is")

    wait_available(kube, namespace, "bkup-20150515")
    code, described, stderr = aws(api, api_user, "describe-snapshots", "--snapshot-name", "bkup-20150515")
    assert code == 0, stderr
    (shown,) = described["Snapshots"]
    assert shown["SnapshotStatus"] == "available"
    assert int(shown["NodeSnapshots"][0]["CacheSize"]) > 0
    assert aws_text(
        api, api_user, "describe-snapshots", "--query", "Snapshots[].SnapshotStatus", "--output", "text"
    ) == ("available\n")
    table = aws_text(api, api_user, "describe-snapshots", "--output", "table")
    assert "DescribeSnapshots" in table.splitlines()[1]
    assert any("bkup-20150515" in line and "SnapshotName" in line for line in table.splitlines())

    code, copied, stderr = aws(
        api, api_user, "copy-snapshot", "--source-snapshot-name", "bkup-20150515",
        "--target-snapshot-name", "bkup-copy", "--tags", "Key=purpose,Value=archive",
    )  # fmt: skip
    assert code == 0, f"{stderr}\n{operator.log_tail()}"
    assert copied["Snapshot"]["SnapshotName"] == "bkup-copy"
    assert copied["Snapshot"]["ARN"] == arn(namespace, "snapshot", "bkup-copy")
    wait_available(kube, namespace, "bkup-copy")
    code, tags, _ = aws(
        api, api_user, "list-tags-for-resource", "--resource-name", arn(namespace, "snapshot", "bkup-copy")
    )
    assert (code, tags) == (0, {"TagList": [{"Key": "purpose", "Value": "archive"}]})

    code, deleted, stderr = aws(api, api_user, "delete-snapshot", "--snapshot-name", "bkup-copy")
    assert code == 0, stderr
    assert deleted["Snapshot"]["SnapshotStatus"] == "deleting"
    wait_gone(kube_api, namespace, "bkup-copy")
    code, remaining, _ = aws(api, api_user, "describe-snapshots", "--query", "Snapshots[].SnapshotName")
    assert (code, remaining) == (0, ["bkup-20150515"])

    code, _, stderr = aws(
        api, api_user, "create-snapshot", "--cache-cluster-id", "nowhere-001", "--snapshot-name", "orphan"
    )
    assert code == 255
    assert stderr.startswith(f"\n{error_line('CacheClusterNotFound', 'CreateSnapshot')}"), stderr
    assert "nowhere-001" in stderr
    wait_gone(kube_api, namespace, "orphan")  # refused, as ElastiCache refuses: nothing is left behind

    code, _, stderr = aws(
        api, api_user, "copy-snapshot", "--source-snapshot-name", "nope", "--target-snapshot-name", "copy-of-nothing"
    )
    assert code == 255
    assert stderr.startswith(f"\n{error_line('SnapshotNotFoundFault', 'CopySnapshot')}"), stderr
    wait_gone(kube_api, namespace, "copy-of-nothing")
    metrics = api.metrics()
    assert 'redisbackup_elasticache_requests_total{action="CreateSnapshot",code="OK"}' in metrics
    assert 'redisbackup_elasticache_requests_total{action="DeleteSnapshot",code="InvalidSnapshotState"}' in metrics


def test_a_redis_cluster_snapshot_shows_its_node_groups_and_slots(
    kube: Cluster,
    start_operator: StartOperator,
    elasticache_api: RunningApi,
    api_user: Key,
    namespace: str,
    redis_cluster: Topology,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    start_operator(namespaces=[namespace], storage=file_storage(tmp_path / "store"))
    with redis_cluster.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=60)
    redis_nodes.wait_cluster_gossip(redis_cluster)
    mirror.statefulset(redis_cluster, namespace, "myclusteredredis")
    elasticache = elasticache_api.boto3(api_user)

    created = elasticache.create_snapshot(ReplicationGroupId="myClusteredRedis", SnapshotName="cluster-20150515")
    assert created["Snapshot"]["ReplicationGroupId"] == "myClusteredRedis"
    assert created["Snapshot"]["NumNodeGroups"] == 3
    wait_available(kube, namespace, "cluster-20150515")
    (snapshot,) = elasticache.describe_snapshots(ReplicationGroupId="myclusteredredis", ShowNodeGroupConfig=True)[
        "Snapshots"
    ]
    ranges = [f"{first}-{last}" for first, last in redis_nodes.slot_ranges(3)]
    assert [n["NodeGroupConfiguration"] for n in snapshot["NodeSnapshots"]] == [
        {"NodeGroupId": f"000{i}", "Slots": slots} for i, slots in enumerate(ranges, start=1)
    ]
    assert elasticache.describe_snapshots(CacheClusterId="myclusteredredis")["Snapshots"] == []

    (group,) = elasticache.describe_replication_groups()["ReplicationGroups"]
    members = [f"myclusteredredis-{i}" for i in range(len(redis_cluster.nodes))]
    assert (group["ReplicationGroupId"], group["Status"], group["MemberClusters"]) == (
        "myclusteredredis",
        "available",
        members,
    )
    # Asked of the cluster itself: three shards, each with its slots and its primary and replica Pods.
    assert (group["ClusterEnabled"], group["ClusterMode"], group["AutomaticFailover"]) == (True, "enabled", "enabled")
    assert [(g["NodeGroupId"], g["Slots"]) for g in group["NodeGroups"]] == [
        (f"000{i}", slots) for i, slots in enumerate(ranges, start=1)
    ]
    shard_members = sorted(m["CacheClusterId"] for g in group["NodeGroups"] for m in g["NodeGroupMembers"])
    assert shard_members == members
    assert all(len(g["NodeGroupMembers"]) == 2 for g in group["NodeGroups"])
    clusters = elasticache.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    assert [(c["CacheClusterId"], c["ReplicationGroupId"]) for c in clusters] == [
        (member, "myclusteredredis") for member in members
    ]
    assert elasticache.describe_cache_clusters(ShowCacheClustersNotInReplicationGroups=True)["CacheClusters"] == []


def test_botocores_paginator_walks_every_snapshot_once(
    elasticache_api: RunningApi, api_user: Key, kube_api: client.ApiClient, namespace: str
) -> None:
    names = create_backups(kube_api, namespace, 45)
    paginator = elasticache_api.boto3(api_user).get_paginator("describe_snapshots")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 20}))
    assert [len(page["Snapshots"]) for page in pages] == [20, 20, 5]
    assert [s["SnapshotName"] for page in pages for s in page["Snapshots"]] == names
    assert "Marker" not in pages[-1]

    code, everything, stderr = aws(elasticache_api, api_user, "describe-snapshots", "--page-size", "20")
    assert code == 0, stderr
    assert [s["SnapshotName"] for s in everything["Snapshots"]] == names
    code, first, _ = aws(elasticache_api, api_user, "describe-snapshots", "--max-items", "25", "--page-size", "20")
    assert len(first["Snapshots"]) == 25
    code, rest, _ = aws(
        elasticache_api, api_user, "describe-snapshots", "--starting-token", first["NextToken"], "--page-size", "20"
    )
    assert [s["SnapshotName"] for s in first["Snapshots"] + rest["Snapshots"]] == names


def _jsonable(value: Any) -> Any:
    """boto3's parsed answer as the CLI prints it (times back to ElastiCache's text)."""
    from redisbackup.domain.elasticache import elasticache_time

    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "tzinfo"):
        return elasticache_time(value)
    return value


def test_tags_on_snapshots_cache_clusters_and_replication_groups(
    kube: Cluster,
    kube_api: client.ApiClient,
    elasticache_api: RunningApi,
    api_user: Key,
    namespace: str,
    redis_standalone: Topology,
    redis_replicated: Topology,
    mirror: Mirror,
) -> None:
    create_backups(kube_api, namespace, 1, tags={"team": "payments"})
    mirror.statefulset(redis_standalone, namespace, "single")
    mirror.statefulset(redis_replicated, namespace, "replicated")
    elasticache = elasticache_api.boto3(api_user)
    single = arn(namespace, "cluster", "single")  # a one-Pod StatefulSet is a cache cluster by its own name
    group = arn(namespace, "replicationgroup", "replicated")
    snapshot = arn(namespace, "snapshot", "page-000")

    assert [c["CacheClusterId"] for c in elasticache.describe_cache_clusters()["CacheClusters"]] == [
        "replicated-0",
        "replicated-1",
        "replicated-2",
        "single",
    ]
    # The CLI twin answers from the same core: the same clusters, without ARNs (it has no region).
    twin = redisbackup("describe-cache-clusters", "-n", namespace, env={"KUBECONFIG": str(kube.kubeconfig)})
    assert twin.returncode == 0, twin.stderr
    from_api = elasticache.describe_cache_clusters()["CacheClusters"]
    assert json.loads(twin.stdout)["CacheClusters"] == [
        {key: value for key, value in cluster.items() if key != "ARN"} for cluster in _jsonable(from_api)
    ]
    (replicated,) = elasticache.describe_replication_groups()["ReplicationGroups"]
    assert (replicated["ClusterEnabled"], replicated["ClusterMode"]) == (False, "disabled")
    (node_group,) = replicated["NodeGroups"]
    primary = redis_replicated.primary
    assert node_group["PrimaryEndpoint"] == {"Address": primary.host, "Port": primary.port}
    assert sorted(m["CurrentRole"] for m in node_group["NodeGroupMembers"]) == ["primary", "replica", "replica"]
    assert elasticache.list_tags_for_resource(ResourceName=snapshot)["TagList"] == [
        {"Key": "team", "Value": "payments"}
    ]
    after = elasticache.add_tags_to_resource(ResourceName=snapshot, Tags=[{"Key": "env", "Value": "prod"}])
    assert after["TagList"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "payments"}]
    assert get(kube_api, namespace, "page-000")["spec"]["tags"] == {"team": "payments", "env": "prod"}  # type: ignore[index]
    after = elasticache.remove_tags_from_resource(ResourceName=snapshot, TagKeys=["team"])
    assert after["TagList"] == [{"Key": "env", "Value": "prod"}]
    assert get(kube_api, namespace, "page-000")["spec"]["tags"] == {"env": "prod"}  # type: ignore[index]

    elasticache.add_tags_to_resource(ResourceName=single, Tags=[{"Key": "owner", "Value": "team a"}])
    elasticache.add_tags_to_resource(ResourceName=group, Tags=[{"Key": "tier", "Value": "gold"}])
    apps = client.AppsV1Api(kube_api)
    annotations = apps.read_namespaced_stateful_set("single", namespace).metadata.annotations
    assert json.loads(annotations["redisbackup.io/tags"]) == {"owner": "team a"}
    assert elasticache.list_tags_for_resource(ResourceName=group)["TagList"] == [{"Key": "tier", "Value": "gold"}]
    assert elasticache.remove_tags_from_resource(ResourceName=group, TagKeys=["tier"])["TagList"] == []
    annotations = apps.read_namespaced_stateful_set("replicated", namespace).metadata.annotations or {}
    assert "redisbackup.io/tags" not in annotations
    member = arn(namespace, "cluster", "replicated-1")
    elasticache.add_tags_to_resource(ResourceName=member, Tags=[{"Key": "role", "Value": "replica"}])
    pod = client.CoreV1Api(kube_api).read_namespaced_pod("replicated-1", namespace)
    assert json.loads(pod.metadata.annotations["redisbackup.io/tags"]) == {"role": "replica"}


def test_a_kubernetes_token_as_the_session_token_works_as_its_service_account(
    kube: Cluster, elasticache_api: RunningApi, api_user: Key, namespace: str, tmp_path: Path
) -> None:
    from devstack.elasticache_api import start

    api = start(kube, tmp_path, keys_namespace=elasticache_api.keys_namespace, args=["--session-tokens"])
    try:
        token = kube.service_account_token(namespace, "backup-bot")
        as_token = Key(namespace, token, namespace, api_user.user)
        code, document, stderr = aws(api, as_token, "describe-snapshots", AWS_SESSION_TOKEN=token)
        assert (code, document) == (0, {"Snapshots": []}), stderr
        code, _, stderr = aws(api, as_token, "describe-snapshots", AWS_SESSION_TOKEN=token + "x")
        assert code == 255
        assert error_line("SignatureDoesNotMatch", "DescribeSnapshots") in stderr  # the secret is not the token
        bad = Key(namespace, "not.a.token", namespace, api_user.user)
        code, _, stderr = aws(api, bad, "describe-snapshots", AWS_SESSION_TOKEN="not.a.token")
        assert code == 255
        assert error_line("InvalidClientTokenId", "DescribeSnapshots") in stderr
        # An access key still works on the same server.
        code, _, stderr = aws(api, api_user, "describe-snapshots")
        assert code == 0, stderr
    finally:
        api.stop()


def test_malformed_requests_against_the_real_server_get_a_4xx(
    elasticache_api: RunningApi, api_user: Key, namespace: str
) -> None:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(elasticache_api.ca_file))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    garbled = "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=0"
    cases: list[tuple[str, bytes, dict[str, str]]] = [
        ("POST", b"", {}),
        ("POST", b"Action=DescribeSnapshots&Version=2015-02-02", form),
        ("POST", b"\xff\xfe", {**form, "Authorization": "AWS4-HMAC-SHA256"}),
        ("PUT", b"x", {}),
        ("GET", b"", {"Authorization": garbled}),
        ("POST", b"a" * 200_000, form),
    ]
    for method, body, headers in cases:
        request = urllib.request.Request(elasticache_api.url + "/", data=body or None, method=method, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10, context=context)
        assert 400 <= refused.value.code < 500, (method, body[:40], refused.value.code)
        assert b"<ErrorResponse" in refused.value.read()
    elasticache = elasticache_api.boto3(api_user)
    answer: dict[str, Any] = elasticache.describe_snapshots()
    assert answer["Snapshots"] == []
