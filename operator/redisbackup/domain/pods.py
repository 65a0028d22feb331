"""What a Pod says about the Redis in it, read from the API's plain dicts: readiness, port, resources, owner.

Kept apart from the rules of `redisbackup.domain.resolution` so each can be read (and tested) on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

REDIS_PORT_NAMES = ("redis", "tcp-redis")
SNAPSHOTTING_ANNOTATION = "redisbackup.io/snapshotting"
"""On a Workload while a snapshot of it runs: the RedisBackup taking it (ElastiCache's status "snapshotting")."""
DEFAULT_REDIS_PORT = 6379

Body = Mapping[str, Any]


@dataclass(frozen=True, order=True)
class Workload:
    """The object that carries the `redisbackup.io/snapshotting` annotation while a snapshot runs."""

    kind: Literal["Pod", "StatefulSet"]
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class SourcePod:
    name: str
    ip: str | None
    port: int
    ready: bool
    created: dt.datetime | None
    workload: Workload
    node_type: str | None = None  # the container's resources, ElastiCache's CacheNodeType

    @property
    def label(self) -> str:
        return f"pod {self.name} ({self.ip}:{self.port})" if self.ip else f"pod {self.name}"


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def is_ready(pod: Body) -> bool:
    """Ready=True, an IP, and not terminating: what a Service would send traffic to."""
    status = pod.get("status") or {}
    if pod.get("metadata", {}).get("deletionTimestamp") or not status.get("podIP"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def redis_port(pod: Body, spec_port: int | None) -> int:
    """spec.port when given; else the container port named redis or tcp-redis (Bitnami's name); else 6379."""
    if spec_port is not None:
        return spec_port
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") in REDIS_PORT_NAMES and port.get("containerPort"):
                return int(port["containerPort"])
    return DEFAULT_REDIS_PORT


def node_type(pod: Body) -> str | None:
    """The Redis container's requests (else limits), e.g. `cpu=500m,memory=1Gi`: the Pod's CacheNodeType."""
    containers = (pod.get("spec") or {}).get("containers") or []
    redis = next((c for c in containers if c.get("name") in ("redis", *REDIS_PORT_NAMES)), None)
    chosen = redis or (containers[0] if containers else {})
    resources = chosen.get("resources") or {}
    amounts = resources.get("requests") or resources.get("limits") or {}
    parts = [f"{name}={amounts[name]}" for name in ("cpu", "memory") if name in amounts]
    return ",".join(parts) or None


def controller_of(pod: Body) -> tuple[str, str] | None:
    """(kind, name) of the Pod's controller, from its ownerReferences."""
    for owner in pod.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return str(owner.get("kind")), str(owner.get("name"))
    return None


def workload_of(pod: Body) -> Workload:
    """The StatefulSet that runs the Pod, else the Pod itself (other controllers cannot be annotated by us)."""
    controller = controller_of(pod)
    if controller is not None and controller[0] == "StatefulSet":
        return Workload("StatefulSet", controller[1])
    return Workload("Pod", str(pod["metadata"]["name"]))


def source_pod(pod: Body, spec_port: int | None) -> SourcePod:
    metadata = pod.get("metadata") or {}
    return SourcePod(
        name=str(metadata.get("name")),
        ip=(pod.get("status") or {}).get("podIP"),
        port=redis_port(pod, spec_port),
        ready=is_ready(pod),
        created=_parse_time(metadata.get("creationTimestamp")),
        workload=workload_of(pod),
        node_type=node_type(pod),
    )


def pods_of(statefulset: Body, pods: Sequence[Body]) -> list[Body]:
    """The Pods a StatefulSet controls (by ownerReference uid), in ordinal order."""
    uid = statefulset.get("metadata", {}).get("uid")
    owned = [
        pod
        for pod in pods
        if any(
            o.get("uid") == uid and o.get("controller") for o in pod.get("metadata", {}).get("ownerReferences") or []
        )
    ]
    return sorted(owned, key=lambda pod: _ordinal(str(pod["metadata"]["name"])))


def _ordinal(name: str) -> tuple[int, str]:
    tail = name.rsplit("-", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)
