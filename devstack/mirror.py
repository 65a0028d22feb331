"""Mirror real redis-server nodes into the Kubernetes API as a StatefulSet and its Pods.

No kubelet runs on the local control plane, so a Pod is only an API object. `Mirror` creates the objects a Redis
chart would (StatefulSet ``<name>`` with pods ``<name>-0…``, or plain Pods) and writes their status as a kubelet
would: ``status.podIP`` is the node's own 127.0.0.x address, the container port named ``redis`` is its port, and
the Ready condition is True. The operator then finds the nodes exactly as it will in a real cluster.

What is set, and why:
- Pods carry an ownerReference to the StatefulSet with ``controller: true``: the garbage collector removes them
  with it, as in a real cluster (a backup must survive that).
- StatefulSet status (replicas, readyReplicas, availableReplicas, revisions, observedGeneration) as the StatefulSet
  controller would report it; that controller is off on the local control plane, so nothing overwrites it.
- Pod identity labels (``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index``), hostname and
  subdomain as the StatefulSet controller sets them, so a real controller (``external=True``) leaves them alone.
- With a password or TLS the Secrets a chart would make, referenced from the container's env: ``<name>-auth``
  (``password`` and, for an ACL user, ``username``: the node's backup credentials) and ``<name>-tls`` (``ca.crt``,
  and ``tls.crt``/``tls.key``: the node's client certificate for mutual TLS, else its own).
- The Pods are never bound to a node (``spec.nodeName`` stays empty): a bound Pod is deleted gracefully, waiting
  for a kubelet to confirm, and none exists, so garbage collection and namespace deletion would hang. On a real
  cluster (``external=True``) they also carry a scheduling gate, so no scheduler or kubelet ever runs or rewrites
  them, and the StatefulSet uses ``updateStrategy: OnDelete`` so its controller never replaces them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client

from devstack.versions import HOST

REDIS_IMAGE = HOST.image  # for a node that does not say which release it runs
SCHEDULING_GATE = "devstack.redisbackup.io/no-kubelet"
REPLICATION_GROUP_LABEL = "redisbackup.io/replication-group"


class CertFilesLike(Protocol):
    @property
    def cert(self) -> Path: ...
    @property
    def key(self) -> Path: ...
    @property
    def ca(self) -> Path: ...


class RedisNodeLike(Protocol):
    """What mirroring needs of a `devstack.redis_nodes.RedisNode`."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def password(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def tls(self) -> CertFilesLike | None: ...


def image_of(node: RedisNodeLike) -> str:
    """The image a Pod of this node would run: its release's (devstack.redis_nodes.RedisNode.image)."""
    image = getattr(node, "image", None)
    return image if isinstance(image, str) else REDIS_IMAGE


class TopologyLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> Sequence[RedisNodeLike]: ...


@dataclass
class Mirrored:
    """What `Mirror` created: object names for RedisBackup specs and assertions."""

    namespace: str
    name: str  # the StatefulSet (or, for plain Pods, the common name prefix)
    pods: list[str]
    nodes: dict[str, RedisNodeLike]  # pod name -> the real node behind it
    statefulset: str | None = None
    auth_secret: str | None = None  # keys: password, and username for an ACL user
    tls_secret: str | None = None  # keys: ca.crt, tls.crt, tls.key
    labels: dict[str, str] = field(default_factory=dict)

    def pod_for(self, node: RedisNodeLike) -> str:
        return next(pod for pod, candidate in self.nodes.items() if candidate is node)


def container_status(name: str, image: str, ready: bool) -> dict[str, Any]:
    """A running container's status as a kubelet reports it."""
    return {
        "name": name,
        "ready": ready,
        "started": True,
        "restartCount": 0,
        "image": image,
        "imageID": f"{image}@sha256:{'0' * 64}",
        "containerID": "containerd://devstack",
        "state": {"running": {"startedAt": _now()}},
    }


def running_status(ip: str, containers: Sequence[str], image: str) -> dict[str, Any]:
    """A running, Ready Pod's status at address `ip` (also used by devstack.localpod)."""
    now = _now()
    kinds = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [{"type": kind, "status": "True", "lastTransitionTime": now} for kind in kinds],
        "containerStatuses": [container_status(name, image, True) for name in containers],
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Mirror:
    """`mirror(topology, namespace, name=...)` → a StatefulSet + Pods; `.pods(...)`/`.pod(...)` → plain Pods."""

    def __init__(self, api: client.ApiClient, *, external: bool = False) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.external = external

    # ------------------------------------------------------------------------------------------- public API
    def statefulset(
        self,
        topology: TopologyLike,
        namespace: str,
        name: str | None = None,
        *,
        replication_group: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Mirrored:
        """A StatefulSet `name` (default: the topology's name) whose pods `name-0…` are the topology's nodes.

        `replication_group` adds the label ``redisbackup.io/replication-group=<id>`` to the set and its pods.
        """
        name = name or topology.name
        nodes = list(topology.nodes)
        pod_names = [f"{name}-{i}" for i in range(len(nodes))]
        mirrored = self._prepare(nodes, namespace, name, pod_names, replication_group, labels)
        mirrored.statefulset = name
        template = self._pod_template(mirrored, nodes[0])
        revision = f"{name}-{hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]}"
        self._create_headless_service(mirrored, nodes[0].port)
        # replicas 0 first: a real StatefulSet controller (external=True) must find the pods already there.
        sts = self.apps.create_namespaced_stateful_set(
            namespace,
            {
                "metadata": {"name": name, "labels": mirrored.labels},
                "spec": {
                    "replicas": 0,
                    "serviceName": name,
                    "selector": {"matchLabels": self._selector(mirrored)},
                    "template": template,
                    "updateStrategy": {"type": "OnDelete"},
                    "podManagementPolicy": "Parallel",
                },
            },
        )
        owner = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": name,
            "uid": sts.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        for index, (pod, node) in enumerate(mirrored.nodes.items()):
            identity = {
                "statefulset.kubernetes.io/pod-name": pod,
                "apps.kubernetes.io/pod-index": str(index),
                "controller-revision-hash": revision,
            }
            self._create_pod(mirrored, pod, node, extra_labels=identity, owner=owner, subdomain=name)
        scaled = self.apps.patch_namespaced_stateful_set(name, namespace, {"spec": {"replicas": len(nodes)}})
        self._write_statefulset_status(mirrored, scaled.metadata.generation, revision)
        return mirrored

    __call__ = statefulset

    def pods(
        self,
        topology: TopologyLike,
        namespace: str,
        name: str | None = None,
        *,
        replication_group: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Mirrored:
        """Plain Pods without an owner, named as ElastiCache names nodes: `name-001`, `name-002`, …"""
        name = name or topology.name
        nodes = list(topology.nodes)
        pod_names = [f"{name}-{i + 1:03d}" for i in range(len(nodes))]
        mirrored = self._prepare(nodes, namespace, name, pod_names, replication_group, labels)
        for pod, node in mirrored.nodes.items():
            self._create_pod(mirrored, pod, node)
        return mirrored

    def pod(self, node: RedisNodeLike, namespace: str, name: str, *, labels: Mapping[str, str] | None = None) -> str:
        """One plain Pod `name` for one node; returns the Pod name."""
        mirrored = self._prepare([node], namespace, name, [name], None, labels)
        self._create_pod(mirrored, name, node)
        return name

    def set_ready(self, mirrored: Mirrored, pod: str, ready: bool) -> None:
        """Flip a pod's Ready condition (as a failing readiness probe would) and recount the StatefulSet."""
        status = "True" if ready else "False"
        conditions = [
            {"type": kind, "status": status, "lastTransitionTime": _now()} for kind in ("ContainersReady", "Ready")
        ]
        self.core.patch_namespaced_pod_status(
            pod,
            mirrored.namespace,
            {"status": {"conditions": conditions, "containerStatuses": [self._container_status(mirrored, pod, ready)]}},
        )
        if mirrored.statefulset:
            sts = self.apps.read_namespaced_stateful_set(mirrored.statefulset, mirrored.namespace)
            self._write_statefulset_status(mirrored, sts.metadata.generation, sts.status.update_revision)

    # ------------------------------------------------------------------------------------------- objects
    def _prepare(
        self,
        nodes: Sequence[RedisNodeLike],
        namespace: str,
        name: str,
        pod_names: list[str],
        replication_group: str | None,
        extra_labels: Mapping[str, str] | None,
    ) -> Mirrored:
        labels = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": name, **(extra_labels or {})}
        if replication_group:
            labels[REPLICATION_GROUP_LABEL] = replication_group
        nodes_by_pod = dict(zip(pod_names, nodes, strict=True))
        mirrored = Mirrored(namespace=namespace, name=name, pods=pod_names, nodes=nodes_by_pod, labels=labels)
        first = nodes[0]
        if first.password:
            data = {"password": first.password}
            if first.username:
                data["username"] = first.username
            mirrored.auth_secret = self._create_secret(namespace, f"{name}-auth", data, labels)
        if first.tls is not None:
            # What a client needs: the CA, and for mutual TLS a client certificate (else the server's own pair,
            # as charts that reuse one certificate for both ends ship it).
            client_pair: CertFilesLike = getattr(first, "client_tls", None) or first.tls
            files = {"ca.crt": first.tls.ca, "tls.crt": client_pair.cert, "tls.key": client_pair.key}
            data = {key: path.read_text() for key, path in files.items()}
            mirrored.tls_secret = self._create_secret(namespace, f"{name}-tls", data, labels, kind="kubernetes.io/tls")
        return mirrored

    def _create_secret(
        self, namespace: str, name: str, data: dict[str, str], labels: dict[str, str], kind: str = "Opaque"
    ) -> str:
        encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
        self.core.create_namespaced_secret(
            namespace, {"metadata": {"name": name, "labels": labels}, "type": kind, "data": encoded}
        )
        return name

    def _selector(self, mirrored: Mirrored) -> dict[str, str]:
        return {key: mirrored.labels[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}

    def _pod_spec(
        self, mirrored: Mirrored, node: RedisNodeLike, *, hostname: str = "", subdomain: str = ""
    ) -> dict[str, Any]:
        container: dict[str, Any] = {
            "name": "redis",
            "image": image_of(node),
            "ports": [{"name": "redis", "containerPort": node.port, "protocol": "TCP"}],
        }
        env = []
        if mirrored.auth_secret:
            ref = {"secretKeyRef": {"name": mirrored.auth_secret, "key": "password"}}
            env.append({"name": "REDIS_PASSWORD", "valueFrom": ref})
        if mirrored.tls_secret:
            env.append({"name": "REDIS_TLS_ENABLED", "value": "yes"})
        if env:
            container["env"] = env
        spec: dict[str, Any] = {"containers": [container], "enableServiceLinks": False}
        if hostname:
            spec["hostname"] = hostname
        if subdomain:
            spec["subdomain"] = subdomain
        if self.external:
            spec["schedulingGates"] = [{"name": SCHEDULING_GATE}]
        return spec

    def _pod_template(self, mirrored: Mirrored, node: RedisNodeLike) -> dict[str, Any]:
        return {"metadata": {"labels": mirrored.labels}, "spec": self._pod_spec(mirrored, node)}

    def _create_headless_service(self, mirrored: Mirrored, port: int) -> None:
        self.core.create_namespaced_service(
            mirrored.namespace,
            {
                "metadata": {"name": mirrored.name, "labels": mirrored.labels},
                "spec": {
                    "clusterIP": "None",
                    "selector": self._selector(mirrored),
                    "ports": [{"name": "redis", "port": port, "targetPort": "redis"}],
                    "publishNotReadyAddresses": True,
                },
            },
        )

    def _create_pod(
        self,
        mirrored: Mirrored,
        pod: str,
        node: RedisNodeLike,
        *,
        extra_labels: Mapping[str, str] | None = None,
        owner: Mapping[str, object] | None = None,
        subdomain: str = "",
    ) -> None:
        metadata: dict[str, Any] = {"name": pod, "labels": {**mirrored.labels, **(extra_labels or {})}}
        if owner:
            metadata["ownerReferences"] = [dict(owner)]
        spec = self._pod_spec(mirrored, node, hostname=pod if subdomain else "", subdomain=subdomain)
        self.core.create_namespaced_pod(mirrored.namespace, {"metadata": metadata, "spec": spec})
        self.core.patch_namespaced_pod_status(pod, mirrored.namespace, {"status": self._running_status(node)})

    # ------------------------------------------------------------------------------------------- status
    def _container_status(self, mirrored: Mirrored, pod: str, ready: bool) -> dict[str, Any]:
        return container_status("redis", image_of(mirrored.nodes[pod]), ready)

    def _running_status(self, node: RedisNodeLike) -> dict[str, Any]:
        return running_status(node.host, ["redis"], image_of(node))

    def _write_statefulset_status(self, mirrored: Mirrored, generation: int, revision: str) -> None:
        ready = 0
        for pod in mirrored.pods:
            conditions = self.core.read_namespaced_pod_status(pod, mirrored.namespace).status.conditions or []
            ready += any(c.type == "Ready" and c.status == "True" for c in conditions)
        count = len(mirrored.pods)
        status = {
            "observedGeneration": generation,
            "replicas": count,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "currentReplicas": count,
            "updatedReplicas": count,
            "currentRevision": revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        assert mirrored.statefulset is not None
        self.apps.patch_namespaced_stateful_set_status(mirrored.statefulset, mirrored.namespace, {"status": status})
