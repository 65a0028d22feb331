"""Pods and StatefulSets as the API returns them, for the pure resolution rules."""

from __future__ import annotations

from typing import Any


def statefulset(name: str, replicas: int = 1, uid: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": uid or f"uid-{name}"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/instance": name}}},
    }


def pod(
    name: str,
    ip: str | None = "10.0.0.1",
    *,
    ready: bool = True,
    owner: dict[str, Any] | None = None,
    ports: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    resources: dict[str, Any] | None = None,
    terminating: bool = False,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": "2026-01-02T03:04:05Z", "labels": labels or {}}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "kind": "StatefulSet",
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    if terminating:
        metadata["deletionTimestamp"] = "2026-01-02T03:05:00Z"
    container: dict[str, Any] = {
        "name": "redis",
        "ports": ports if ports is not None else [{"name": "redis", "containerPort": 6380}],
    }
    if resources is not None:
        container["resources"] = resources
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": metadata, "spec": {"containers": [container]}, "status": status}


def pods_of(sts: dict[str, Any], count: int, *, ready: bool = True) -> list[dict[str, Any]]:
    name = sts["metadata"]["name"]
    return [pod(f"{name}-{i}", f"10.0.0.{i + 1}", owner=sts, ready=ready) for i in range(count)]
