"""Listing a namespace's Pods and StatefulSets, and keeping annotations on them, with a given client.

The ElastiCache operations read workloads as their caller (`redisbackup.elasticache`): every call here takes the
caller's client, and its errors come back as faults (`k8s.faults`), AccessDenied when the caller may not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from redisbackup.k8s import api
from redisbackup.k8s.api import Client

Kind = Literal["Pod", "StatefulSet"]


def list_pods(namespace: str, client: Client) -> list[dict[str, Any]]:
    listing = api.call(f"list Pods in namespace {namespace}", api.core(client).list_namespaced_pod, namespace)
    items: list[dict[str, Any]] = listing.get("items") or []
    return items


def list_statefulsets(namespace: str, client: Client) -> list[dict[str, Any]]:
    listing = api.call(
        f"list StatefulSets in namespace {namespace}", api.apps(client).list_namespaced_stateful_set, namespace
    )
    items: list[dict[str, Any]] = listing.get("items") or []
    return items


def annotate(
    kind: Kind,
    namespace: str,
    name: str,
    annotations: dict[str, str | None],
    *,
    resource_version: str,
    client: Client,
) -> dict[str, Any]:
    """Merge-patch `annotations` (None removes one), refused (UpdateConflict) if the object changed since it was
    read at `resource_version`: a read-modify-write of an annotation must not lose a concurrent one."""
    body = {"metadata": {"annotations": annotations, "resourceVersion": resource_version}}
    method: Callable[..., Any] = (
        api.core(client).patch_namespaced_pod if kind == "Pod" else api.apps(client).patch_namespaced_stateful_set
    )
    return api.call(
        f"annotate {kind} {name} in namespace {namespace}", method, name, namespace, body, _content_type=api.MERGE_PATCH
    )
