"""The informer's transport on the real apiserver: paged lists, the watch from the list's resourceVersion (events
without managedFields), and 410 Gone for a resourceVersion older than the apiserver keeps."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from redisbackup.k8s import client as k8s_client
from redisbackup.k8s import redisbackups
from redisbackup.k8s.faults import ResourceExpired
from redisbackup.k8s.informer import Informer

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"


@pytest.fixture
def selected(kube: Cluster) -> Iterator[None]:
    k8s_client.select(kubeconfig=str(kube.kubeconfig))
    yield
    k8s_client.select()


def create(objects: client.CustomObjectsApi, namespace: str, name: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RedisBackup",
        "metadata": {"name": name},
        "spec": {"snapshotName": name, "cacheClusterId": "absent-001"},
    }
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def test_the_list_comes_in_pages_with_a_resource_version_to_watch_from(
    kube_api: client.ApiClient, redisbackup_crd: str, namespace: str, selected: None
) -> None:
    objects = client.CustomObjectsApi(kube_api)
    for index in range(5):
        create(objects, namespace, f"paged-{index}")
    pages, token = [], None
    while True:
        page = redisbackups.list_page(namespace, 2, token)
        pages.append([item["metadata"]["name"] for item in page["items"]])
        token = page["metadata"].get("continue")
        if not token:
            break
    assert pages == [["paged-0", "paged-1"], ["paged-2", "paged-3"], ["paged-4"]]
    assert int(page["metadata"]["resourceVersion"]) > 0


def test_a_watch_from_a_resource_version_the_apiserver_no_longer_keeps_is_resource_expired(
    redisbackup_crd: str, namespace: str, selected: None
) -> None:
    with pytest.raises(ResourceExpired):
        list(redisbackups.watch_backups(namespace, "1", 5, threading.Event()))


async def test_the_informer_lists_then_follows_creations_and_deletions(
    kube_api: client.ApiClient, redisbackup_crd: str, namespace: str, selected: None
) -> None:
    objects = client.CustomObjectsApi(kube_api)
    create(objects, namespace, "before")
    seen: list[tuple[str, str, bool]] = []

    async def handler(type_: str, body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        seen.append((type_, metadata["name"], "managedFields" in metadata))

    def watch(version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
        return redisbackups.watch_backups(namespace, version, 30, stop)

    informer = Informer("e2e", functools.partial(redisbackups.list_page, namespace, 500), watch, handler)
    running = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 30)
        assert seen == [("ADDED", "before", False)]
        await asyncio.to_thread(create, objects, namespace, "after")
        await asyncio.to_thread(objects.delete_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, "before")
        async with asyncio.timeout(30):
            while ("DELETED", "before", False) not in seen:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert ("ADDED", "after", False) in seen
        assert informer.lists == 1
    finally:
        running.cancel()
