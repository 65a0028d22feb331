"""Smoke: mirrored nodes look to the operator as Redis pods do in a real cluster (IPs, ports, readiness)."""

from __future__ import annotations

import pytest
from kubernetes import client

from devstack.mirror import REPLICATION_GROUP_LABEL, Mirror
from tests.e2e.placeholders import PlaceholderTopology

pytestmark = pytest.mark.e2e


def test_a_mirrored_statefulset_reports_its_pods_ready_at_the_nodes_addresses(
    kube_api: client.ApiClient, mirror: Mirror, namespace: str
) -> None:
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    topology = PlaceholderTopology.of("orders", 3)

    mirror(topology, namespace, "orders-cache", replication_group="orders")

    sts = apps.read_namespaced_stateful_set("orders-cache", namespace)
    assert (sts.status.replicas, sts.status.ready_replicas, sts.status.available_replicas) == (3, 3, 3)
    assert sts.status.observed_generation == sts.metadata.generation
    pods = core.list_namespaced_pod(namespace, label_selector=f"{REPLICATION_GROUP_LABEL}=orders").items
    by_name = {pod.metadata.name: pod for pod in pods}
    assert sorted(by_name) == ["orders-cache-0", "orders-cache-1", "orders-cache-2"]
    for index, node in enumerate(topology.nodes):
        pod = by_name[f"orders-cache-{index}"]
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip == node.host
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert [(p.name, p.container_port) for p in pod.spec.containers[0].ports] == [("redis", node.port)]
        (owner,) = pod.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "StatefulSet",
            "orders-cache",
            sts.metadata.uid,
            True,
        )


def test_a_pod_marked_unready_is_counted_out_of_the_statefulset(
    kube_api: client.ApiClient, mirror: Mirror, namespace: str
) -> None:
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    mirrored = mirror(PlaceholderTopology.of("cache", 2), namespace)

    mirror.set_ready(mirrored, "cache-1", ready=False)

    conditions = {c.type: c.status for c in core.read_namespaced_pod_status("cache-1", namespace).status.conditions}
    assert conditions["Ready"] == "False"
    assert apps.read_namespaced_stateful_set("cache", namespace).status.ready_replicas == 1


def test_plain_pods_are_named_like_elasticache_nodes_and_have_no_owner(
    kube_api: client.ApiClient, mirror: Mirror, namespace: str
) -> None:
    core = client.CoreV1Api(kube_api)

    mirrored = mirror.pods(PlaceholderTopology.of("mycluster", 2), namespace)

    assert mirrored.pods == ["mycluster-001", "mycluster-002"]
    for pod_name, node in mirrored.nodes.items():
        pod = core.read_namespaced_pod(pod_name, namespace)
        assert pod.metadata.owner_references is None
        assert pod.status.pod_ip == node.host
