"""Smoke: the garbage collector and the namespace controller run, as they do in every real cluster.

The operator's promise rests on them: deleting a Redis workload removes its Pods, but a backup (which never has
ownerReferences) survives it.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.mirror import Mirror
from devstack.wait import wait_until
from tests.e2e.placeholders import PlaceholderTopology

pytestmark = pytest.mark.e2e


def _exists(read: object, *args: str) -> bool:
    try:
        read(*args)  # type: ignore[operator]
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def test_deleting_a_statefulset_removes_its_pods_but_not_unowned_objects(
    kube_api: client.ApiClient, mirror: Mirror, namespace: str
) -> None:
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    mirrored = mirror(PlaceholderTopology.of("cache", 2), namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "unowned"}, "data": {"keep": "me"}})
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == ["cache-0", "cache-1"]

    apps.delete_namespaced_stateful_set("cache", namespace)

    wait_until(
        lambda: not core.list_namespaced_pod(namespace).items, timeout=60, what=f"GC of {mirrored.pods} in {namespace}"
    )
    assert core.read_namespaced_config_map("unowned", namespace).data == {"keep": "me"}


def test_deleting_a_namespace_deletes_the_objects_in_it(
    kube: Cluster, kube_api: client.ApiClient, mirror: Mirror
) -> None:
    core = client.CoreV1Api(kube_api)
    doomed = kube.create_namespace("doomed")
    mirror(PlaceholderTopology.of("cache", 1), doomed)
    core.create_namespaced_config_map(doomed, {"metadata": {"name": "inside"}, "data": {"a": "b"}})

    kube.delete_namespace(doomed)

    wait_until(lambda: not _exists(core.read_namespace, doomed), timeout=90, what=f"deletion of namespace {doomed}")
    assert not _exists(core.read_namespaced_config_map, "inside", doomed)
    assert not core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={doomed}").items
