"""Which Pod a RedisBackup reads: ElastiCache's rules for cacheClusterId and replicationGroupId, on API bodies."""

from __future__ import annotations

import pytest

from redisbackup.api.faults import FaultCode
from redisbackup.domain import pods, resolution
from redisbackup.domain.pods import Workload
from redisbackup.domain.resolution import (
    SourceAmbiguous,
    SourceNotFound,
    SourceNotReady,
    cluster_node_named,
    not_a_cluster,
)
from redisbackup.k8s.sources import label_selector
from tests.unit.reconciler.bodies import pod, pods_of, statefulset


def test_a_pod_of_that_name_is_the_node_and_its_statefulset_is_what_gets_marked() -> None:
    sts = statefulset("cache", replicas=3)
    source = resolution.single_node("cache-1", "team", pod=pod("cache-1", "10.0.0.7", owner=sts), statefulset=None)
    (chosen,) = source.pods
    assert (chosen.name, chosen.ip, chosen.port, chosen.ready) == ("cache-1", "10.0.0.7", 6380, True)
    assert chosen.created is not None
    assert chosen.created.isoformat() == "2026-01-02T03:04:05+00:00"
    assert source.workloads == (Workload("StatefulSet", "cache"),)
    assert source.kind == "cacheCluster"


def test_a_bare_pod_is_marked_itself() -> None:
    source = resolution.single_node("solo", "team", pod=pod("solo"), statefulset=None)
    assert source.workloads == (Workload("Pod", "solo"),)


def test_a_statefulset_with_one_pod_is_that_pod() -> None:
    sts = statefulset("cache", replicas=1)
    source = resolution.single_node("Cache", "team", pod=None, statefulset=sts, statefulset_pods=pods_of(sts, 1))
    assert [p.name for p in source.pods] == ["cache-0"]
    assert source.source_id == "Cache"  # as the user wrote it


def test_a_statefulset_with_replicas_must_be_named_by_node_as_elasticache_asks() -> None:
    sts = statefulset("mycluster", replicas=3)
    with pytest.raises(SourceAmbiguous) as refused:
        resolution.single_node("myCluster", "team", pod=None, statefulset=sts, statefulset_pods=pods_of(sts, 3))
    fault = refused.value
    assert fault.code == FaultCode.INVALID_PARAMETER_COMBINATION
    assert not fault.transient
    assert fault.field == "spec.cacheClusterId"
    assert "the cluster has replicas, so name a node, e.g. mycluster-1" in fault.message
    assert "mycluster-0, mycluster-1, mycluster-2" in fault.message


def test_replicas_count_even_before_their_pods_exist() -> None:
    sts = statefulset("mycluster", replicas=2)
    with pytest.raises(SourceAmbiguous, match=r"e\.g\. mycluster-1"):
        resolution.single_node("mycluster", "team", pod=None, statefulset=sts, statefulset_pods=pods_of(sts, 1))


def test_nothing_of_that_name_is_cache_cluster_not_found_and_worth_waiting_for() -> None:
    with pytest.raises(SourceNotFound) as missing:
        resolution.single_node("orders", "team", pod=None, statefulset=None)
    assert missing.value.code == FaultCode.CACHE_CLUSTER_NOT_FOUND
    assert missing.value.transient
    assert "no Pod or StatefulSet named orders in namespace team" in missing.value.message


@pytest.mark.parametrize(
    "unready",
    [pod("cache-0", ready=False), pod("cache-0", ip=None), pod("cache-0", terminating=True)],
    ids=["not-ready", "no-ip", "terminating"],
)
def test_a_pod_that_is_not_ready_is_never_read(unready: dict[str, object]) -> None:
    with pytest.raises(SourceNotReady) as waiting:
        resolution.single_node("cache-0", "team", pod=unready, statefulset=None)
    assert waiting.value.code == FaultCode.INVALID_CACHE_CLUSTER_STATE
    assert waiting.value.transient


def test_the_port_is_spec_port_else_the_named_container_port_else_6379() -> None:
    named = pod("a", ports=[{"name": "metrics", "containerPort": 9121}, {"name": "tcp-redis", "containerPort": 7000}])
    assert pods.redis_port(named, None) == 7000
    assert pods.redis_port(named, 6390) == 6390
    assert pods.redis_port(pod("b", ports=[{"name": "metrics", "containerPort": 9121}]), None) == 6379


def test_the_node_type_is_the_redis_containers_requests() -> None:
    sized = pod("a", resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}})
    assert pods.node_type(sized) == "cpu=500m,memory=1Gi"
    assert pods.node_type(pod("b")) is None


def test_a_replication_group_is_its_statefulsets_ready_pods_and_remembers_the_others() -> None:
    sts = statefulset("shop", replicas=3)
    members = pods_of(sts, 3)
    members[1] = pod("shop-1", "10.0.0.2", owner=sts, ready=False)
    stranger = pod("other-0", "10.9.9.9")  # selected by labels, but not owned by the StatefulSet
    source = resolution.replication_group("shop", "team", statefulset=sts, pods=[*members, stranger])
    assert [p.name for p in source.pods] == ["shop-0", "shop-2"]
    assert [p.name for p in source.unready] == ["shop-1"]
    assert source.workloads == (Workload("StatefulSet", "shop"),)
    assert source.pod_at("10.0.0.3") is not None
    assert source.pod_at("10.0.0.3").name == "shop-2"


def test_labelled_pods_of_several_statefulsets_mark_each_of_them_in_order() -> None:
    a, b = statefulset("shard-b"), statefulset("shard-a")
    labelled = [*pods_of(a, 1), *pods_of(b, 1)]
    source = resolution.replication_group("shop", "team", statefulset=None, pods=labelled)
    assert source.workloads == (Workload("StatefulSet", "shard-a"), Workload("StatefulSet", "shard-b"))


def test_a_missing_replication_group_is_its_own_elasticache_fault() -> None:
    with pytest.raises(SourceNotFound) as missing:
        resolution.replication_group("Shop", "team", statefulset=None, pods=[])
    assert missing.value.code == FaultCode.REPLICATION_GROUP_NOT_FOUND
    assert "redisbackup.io/replication-group=shop" in missing.value.message


def test_a_group_without_any_ready_pod_waits() -> None:
    sts = statefulset("shop", replicas=2)
    with pytest.raises(SourceNotReady) as waiting:
        resolution.replication_group("shop", "team", statefulset=sts, pods=pods_of(sts, 2, ready=False))
    assert waiting.value.code == FaultCode.INVALID_REPLICATION_GROUP_STATE


def test_a_cluster_node_named_as_cache_cluster_id_points_at_replication_group_id() -> None:
    sts = statefulset("shop", replicas=6)
    source = resolution.single_node("shop-3", "team", pod=pod("shop-3", owner=sts), statefulset=None)
    fault = cluster_node_named(source, "team")
    assert fault.code == FaultCode.INVALID_PARAMETER_COMBINATION
    assert "create a RedisBackup with spec.replicationGroupId: shop" in fault.message
    group = resolution.replication_group("plain", "team", statefulset=None, pods=[pod("plain-0"), pod("plain-1")])
    assert "spec.cacheClusterId set to a pod, e.g. plain-1" in not_a_cluster(group, "team").message


def test_a_label_selector_object_becomes_the_query_string() -> None:
    selector = {
        "matchLabels": {"app": "redis"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["cache", "db"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "app=redis,tier in (cache,db),!legacy"


def test_another_namespace_is_read_only_when_it_lets_this_namespace_back_it_up() -> None:
    def namespace(allowed: str | None) -> dict[str, object]:
        annotations = {} if allowed is None else {"redisbackup.io/allow-backups-from": allowed}
        return {"metadata": {"name": "shop", "annotations": annotations}}

    resolution.check_shared("shop", namespace("ops, backups"), "backups")
    resolution.check_shared("shop", namespace("*"), "anyone")
    with pytest.raises(SourceNotFound, match=r'spec\.sourceNamespace "shop" does not exist'):
        resolution.check_shared("shop", None, "backups")
    for refusing in (namespace(None), namespace("ops"), namespace("")):
        with pytest.raises(resolution.SourceNotShared) as refused:
            resolution.check_shared("shop", refusing, "backups")
        assert refused.value.code == FaultCode.SOURCE_NAMESPACE_NOT_SHARED
        assert refused.value.transient
        assert "kubectl annotate namespace shop redisbackup.io/allow-backups-from=backups" in refused.value.message


def test_a_holder_of_another_namespace_is_written_with_its_namespace() -> None:
    from redisbackup.k8s.locks import Holder

    mine, theirs = Holder("nightly", "u1", "shop"), Holder("nightly", "u2", "backups")
    assert (mine.annotation("shop"), theirs.annotation("shop")) == ("nightly", "backups/nightly")
    assert Holder.parse("backups/nightly", "u2", "shop") == theirs
    assert Holder.parse("nightly", "u1", "shop").same(mine, "shop")
    assert not Holder.parse("nightly", "u1", "shop").same(theirs, "shop")
