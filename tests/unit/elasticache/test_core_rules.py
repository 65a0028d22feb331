"""The core's rules without a cluster: which Pods are cache clusters and replication groups, ARNs, pages, and the
RedisBackup a CreateSnapshot or CopySnapshot asks for."""

from __future__ import annotations

from typing import Any

import pytest

from redisbackup.domain.cache_clusters import (
    GroupTopology,
    RedisWorkloads,
    cache_cluster,
    engine,
    replication_group,
    tags_of,
)
from redisbackup.domain.cluster import ClusterNode, ClusterShard
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.plan import SlotRange
from redisbackup.elasticache import paging
from redisbackup.elasticache.arns import Arn, InvalidArn
from redisbackup.elasticache.snapshots import NewSnapshot, SnapshotFilter

READY = [{"type": "Ready", "status": "True"}]


def pod(
    name: str,
    *,
    owner: str | None = None,
    image: str = "docker.io/library/redis:7.2.4",
    port_name: str | None = "redis",
    labels: dict[str, str] | None = None,
    ready: bool = True,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": labels or {},
        "annotations": annotations or {},
        "creationTimestamp": "2024-05-15T10:30:00Z",
    }
    if owner:
        metadata["ownerReferences"] = [
            {"kind": "StatefulSet", "name": owner, "uid": f"uid-{owner}", "controller": True}
        ]
    ports = [{"name": port_name, "containerPort": 6379}] if port_name else []
    return {
        "metadata": metadata,
        "spec": {"containers": [{"name": "redis", "image": image, "ports": ports}]},
        "status": {"podIP": "10.0.0.1", "conditions": READY if ready else []},
    }


def statefulset(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2024-05-15T10:00:00Z"}}


def test_a_one_pod_statefulset_is_a_cache_cluster_by_its_own_name_and_a_bigger_one_a_replication_group() -> None:
    pods = [
        pod("single-0", owner="single"),
        *(pod(f"replicated-{i}", owner="replicated") for i in range(3)),
        pod("loose-001"),
        pod("shard-a", labels={"redisbackup.io/replication-group": "myCluster"}),
        pod("shard-b", labels={"redisbackup.io/replication-group": "myCluster"}),
        pod("web", image="nginx:1.27", port_name="http"),  # not Redis
        pod("exporter", image="oliver006/redis_exporter:v1", port_name="metrics"),  # not a Redis server either
    ]
    redis = RedisWorkloads.of(pods, [statefulset("single"), statefulset("replicated"), statefulset("web")])
    assert [(cid, p["metadata"]["name"], group) for cid, p, group in redis.cache_clusters()] == [
        ("loose-001", "loose-001", None),
        ("replicated-0", "replicated-0", "replicated"),
        ("replicated-1", "replicated-1", "replicated"),
        ("replicated-2", "replicated-2", "replicated"),
        ("shard-a", "shard-a", "myCluster"),
        ("shard-b", "shard-b", "myCluster"),
        ("single", "single-0", None),
    ]
    groups = redis.groups()
    assert list(groups) == ["myCluster", "replicated"]
    assert [p["metadata"]["name"] for p in groups["replicated"][1]] == ["replicated-0", "replicated-1", "replicated-2"]
    assert groups["myCluster"][0] is None  # a labelled group has no StatefulSet
    assert redis.group("REPLICATED") is not None  # a StatefulSet's id is case-insensitive, as in ElastiCache
    assert redis.group("myCluster") is not None  # a label keeps its case, as CreateSnapshot resolves it
    assert redis.group("nowhere") is None


def test_a_task_run_from_the_redis_image_is_no_cache_cluster() -> None:
    """The Job that joins a Redis Cluster runs `redis-cli --cluster create` from the Redis image: `make demo` showed
    its Pod as a cache cluster, `creating` for ever once Completed."""
    job = pod("mycluster-create-9hpb4", port_name=None, ready=False)
    job["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "mycluster-create", "uid": "u", "controller": True}]
    job["status"]["phase"] = "Succeeded"
    running_job = pod("mycluster-create-x1", port_name=None)
    running_job["metadata"]["ownerReferences"] = job["metadata"]["ownerReferences"]
    ended = pod("redis-cli-once", port_name=None, ready=False)
    ended["status"]["phase"] = "Failed"
    server = pod("mycluster-0", owner="mycluster")
    server["status"]["phase"] = "Running"
    redis = RedisWorkloads.of([job, running_job, ended, server], [statefulset("mycluster")])
    assert [cid for cid, _, _ in redis.cache_clusters()] == ["mycluster"]


def test_a_cache_cluster_shows_what_kubernetes_knows_and_invents_nothing() -> None:
    document = cache_cluster(
        "single",
        pod("single-0", owner="single"),
        None,
        show_node_info=True,
        arn="arn:aws:elasticache:r:ns:cluster:single",
    )
    assert document == {
        "CacheClusterId": "single",
        "Engine": "redis",
        "EngineVersion": "7.2.4",
        "CacheClusterStatus": "available",
        "NumCacheNodes": 1,
        "CacheClusterCreateTime": "2024-05-15T10:30:00.000Z",
        "ARN": "arn:aws:elasticache:r:ns:cluster:single",
        "CacheNodes": [
            {
                "CacheNodeId": "0001",
                "CacheNodeStatus": "available",
                "CacheNodeCreateTime": "2024-05-15T10:30:00.000Z",
                "Endpoint": {"Address": "10.0.0.1", "Port": 6379},
            }
        ],
    }
    busy = pod("single-0", annotations={"redisbackup.io/snapshotting": "nightly"})
    assert cache_cluster("single-0", busy, None, show_node_info=False, arn=None)["CacheClusterStatus"] == "snapshotting"
    starting = pod("single-0", ready=False)
    assert cache_cluster("single-0", starting, None, show_node_info=False, arn=None)["CacheClusterStatus"] == "creating"


def test_a_one_pod_statefulset_shows_snapshotting_from_its_own_annotation() -> None:
    """The operator annotates the StatefulSet it snapshots a single node through, not its Pod."""
    busy = {**statefulset("single"), "metadata": {**statefulset("single")["metadata"],
            "annotations": {"redisbackup.io/snapshotting": "nightly"}}}  # fmt: skip
    node = pod("single-0", owner="single")
    workloads = RedisWorkloads.of([node], [busy])
    ((cluster_id, found, group),) = workloads.cache_clusters()
    assert workloads.node_statefulset(found) is busy
    document = cache_cluster(
        cluster_id, found, group, show_node_info=False, arn=None, statefulset=workloads.node_statefulset(found)
    )
    assert document["CacheClusterStatus"] == "snapshotting"
    idle = RedisWorkloads.of([node], [statefulset("single")])
    assert cache_cluster(cluster_id, node, None, show_node_info=False, arn=None,
                         statefulset=idle.node_statefulset(node))["CacheClusterStatus"] == "available"  # fmt: skip
    pair = RedisWorkloads.of([pod("set-0", owner="set"), pod("set-1", owner="set")], [statefulset("set")])
    assert [pair.node_statefulset(member) for member in pair.pods] == [None, None]  # a replication group's nodes


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("docker.io/bitnami/redis:7.2.4-debian-12-r0", ("redis", "7.2.4")),
        ("valkey/valkey:8.0", ("valkey", "8.0")),
        ("registry.local:5000/redis-cluster@sha256:abc", ("redis", None)),
        ("redis", ("redis", None)),
        ("nginx:1.27", (None, None)),
    ],
)
def test_engine_and_version_come_from_the_image_when_it_says(
    image: str, expected: tuple[str | None, str | None]
) -> None:
    assert engine(pod("p", image=image, port_name=None)) == expected


def test_a_replication_group_lists_its_members() -> None:
    members = [pod(f"replicated-{i}", owner="replicated", ready=i != 2) for i in range(3)]
    document = replication_group("replicated", statefulset("replicated"), members, arn=None)
    assert document["Status"] == "modifying"  # one member is not Ready
    assert document["MemberClusters"] == ["replicated-0", "replicated-1", "replicated-2"]
    assert [m["CacheClusterId"] for m in document["NodeGroups"][0]["NodeGroupMembers"]] == document["MemberClusters"]


def test_workload_tags_live_in_one_annotation_and_garbage_there_is_no_tags() -> None:
    assert tags_of(pod("p", annotations={"redisbackup.io/tags": '{"team": "a"}'})) == {"team": "a"}
    assert tags_of(pod("p", annotations={"redisbackup.io/tags": "not json"})) == {}
    assert tags_of(pod("p")) == {}


def test_arns_name_the_namespace_as_the_account() -> None:
    arn = Arn.parse("arn:aws:elasticache:us-east-1:team-a:snapshot:bkup-20150515")
    assert (arn.region, arn.namespace, arn.kind, arn.name) == ("us-east-1", "team-a", "snapshot", "bkup-20150515")
    assert str(arn) == "arn:aws:elasticache:us-east-1:team-a:snapshot:bkup-20150515"
    for bad in (
        "bkup",
        "arn:aws:s3:::bucket",
        "arn:aws:elasticache:us-east-1:team-a:parametergroup:x",
        "arn:aws:elasticache::a:snapshot:x",
    ):
        with pytest.raises(InvalidArn):
            Arn.parse(bad)


def test_pages_follow_markers_to_the_end_even_when_records_go_meanwhile() -> None:
    records = [f"r{i:02d}" for i in range(45)]
    first, marker = paging.page(records, lambda r: (r,), paging=paging.SNAPSHOTS, max_records=20, marker=None)
    assert first == records[:20]
    assert marker is not None
    survivors = records[:20] + records[21:]  # r20, the next page's first, was deleted
    second, marker = paging.page(survivors, lambda r: (r,), paging=paging.SNAPSHOTS, max_records=20, marker=marker)
    assert second == records[21:41]
    third, marker = paging.page(survivors, lambda r: (r,), paging=paging.SNAPSHOTS, max_records=20, marker=marker)
    assert (third, marker) == (records[41:], None)
    for wrong in (19, 51):
        with pytest.raises(ValidationFault, match="out of range"):
            paging.page(records, lambda r: (r,), paging=paging.SNAPSHOTS, max_records=wrong, marker=None)
    with pytest.raises(ValidationFault, match="not one this API returned"):
        paging.page(records, lambda r: (r,), paging=paging.SNAPSHOTS, max_records=None, marker="garbage!")


def test_create_and_copy_ask_for_the_redisbackup_a_user_would_write() -> None:
    create = NewSnapshot("Bkup-20150515", cache_cluster_id="myNonClusteredRedis-001", tags={"team": "a"})
    assert create.redisbackup() == {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": "bkup-20150515"},
        "spec": {"snapshotName": "Bkup-20150515", "cacheClusterId": "myNonClusteredRedis-001", "tags": {"team": "a"}},
    }
    copy = NewSnapshot("copy", source_snapshot_name="Bkup-20150515", settings={"storage": "archive", "verify": None})
    assert copy.redisbackup()["spec"] == {
        "snapshotName": "copy",
        "sourceSnapshotName": "Bkup-20150515",
        "storage": "archive",
    }


def test_describe_filters_match_ids_ignoring_case_and_refuse_two_sources() -> None:
    body = {"spec": {"snapshotName": "Nightly", "replicationGroupId": "myClusteredRedis"}, "status": {}}
    assert SnapshotFilter(snapshot_name="nightly").selects(body)
    assert SnapshotFilter(replication_group_id="MYCLUSTEREDREDIS").selects(body)
    assert not SnapshotFilter(cache_cluster_id="myclusteredredis").selects(body)  # a group is not a cache cluster
    # ElastiCache's SnapshotSource filter: user for manual snapshots, system for automatic ones (domain.automated).
    assert SnapshotFilter(snapshot_source="user").selects(body)
    assert not SnapshotFilter(snapshot_source="system").selects(body)
    with pytest.raises(ValidationFault, match="cannot be combined"):
        SnapshotFilter(cache_cluster_id="a", replication_group_id="b").check()
    with pytest.raises(ValidationFault, match="SnapshotSource 'automated'"):
        SnapshotFilter(snapshot_source="automated").check()


def test_what_the_groups_redis_says_fills_in_shards_slots_and_roles() -> None:
    members = [pod(f"c-{i}", owner="c") for i in range(4)]
    for index, member in enumerate(members):
        member["status"]["podIP"] = f"10.0.0.{index + 1}"

    def node(index: int, role: str) -> ClusterNode:
        return ClusterNode(f"id{index}", f"10.0.0.{index + 1}", 6379, None, role, 0, "online")  # type: ignore[arg-type]

    shards = (
        ClusterShard((SlotRange(8192, 16383),), (node(2, "primary"), node(3, "replica"))),
        ClusterShard((SlotRange(0, 8191),), (node(0, "primary"), node(1, "replica"))),
        ClusterShard((), ()),  # a shard without slots is no node group
    )
    clustered = replication_group("c", statefulset("c"), members, arn=None, topology=GroupTopology(shards=shards))
    assert (clustered["ClusterEnabled"], clustered["ClusterMode"], clustered["AutomaticFailover"]) == (
        True,
        "enabled",
        "enabled",
    )
    assert [
        (g["NodeGroupId"], g["Slots"], [m["CacheClusterId"] for m in g["NodeGroupMembers"]])
        for g in clustered["NodeGroups"]
    ] == [
        ("0001", "0-8191", ["c-0", "c-1"]),
        ("0002", "8192-16383", ["c-2", "c-3"]),
    ]

    roles = GroupTopology(roles={"c-0": "replica", "c-1": "primary"})
    replicated = replication_group("c", statefulset("c"), members[:2], arn=None, topology=roles)
    (group,) = replicated["NodeGroups"]
    assert group["PrimaryEndpoint"] == {"Address": "10.0.0.2", "Port": 6379}
    assert [m["CurrentRole"] for m in group["NodeGroupMembers"]] == ["replica", "primary"]
    assert replicated["ClusterEnabled"] is False

    unknown = replication_group("c", statefulset("c"), members[:2], arn=None)
    assert "ClusterEnabled" not in unknown  # nothing is said that was not learnt
