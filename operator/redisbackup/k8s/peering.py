"""Kopf's peering objects (the chart's KopfPeering or ClusterKopfPeering), listed and watched for domain.peering."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from redisbackup.k8s import api

GROUP, VERSION = "kopf.dev", "v1"


def _method(namespace: str | None) -> tuple[Callable[..., Any], tuple[str, ...], str]:
    custom: Any = api.custom()  # the official client's (the REST client's twin has no cluster-scoped calls)
    if namespace is None:
        return custom.list_cluster_custom_object, (GROUP, VERSION, "clusterkopfpeerings"), "ClusterKopfPeerings"
    args = (GROUP, VERSION, namespace, "kopfpeerings")
    return custom.list_namespaced_custom_object, args, f"KopfPeerings in namespace {namespace}"


def list_peering(name: str, namespace: str | None, token: str | None = None) -> dict[str, Any]:
    """The peering object `name` of `namespace` (None: the cluster-wide one) as a list of at most one item."""
    method, args, what = _method(namespace)
    return api.call(f"list {what}", method, *args, field_selector=f"metadata.name={name}")


def watch_peering(
    name: str, namespace: str | None, resource_version: str, stop: threading.Event
) -> Iterator[dict[str, Any]]:
    method, args, what = _method(namespace)
    return api.watch(
        f"watch {what}",
        method,
        *args,
        resource_version=resource_version,
        timeout_seconds=300,
        stop=stop,
        field_selector=f"metadata.name={name}",
    )
