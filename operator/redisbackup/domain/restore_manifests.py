"""The Kubernetes objects of a brand-new Redis restored from a snapshot: what `redisbackup restore-manifest` prints
and the console's Restore shows, ready to `kubectl apply`.

They follow `manifests/samples/restore/`: a StatefulSet whose init container runs `redisbackup restore` (checked
against the manifest, `--skip-if-not-empty` so a restarted Pod keeps what Redis wrote since) before a Redis of the
snapshot's engine and version starts with `appendonly no`; for a Redis Cluster snapshot one Pod per node group (plus
replicas) restoring `--node-group auto`, and a Job that joins them (`restore-cluster --preloaded`). The storage
settings are the operator's (ConfigMap `redisbackup-storage`, Secret `redisbackup-s3` with the S3 keys), as in the
samples; the ServiceAccount may only read RedisBackups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

CONFIG_MAP = "redisbackup-storage"
S3_SECRET = "redisbackup-s3"
SERVICE_ACCOUNT = "redis-restore"
IMAGE_REPOSITORY = "ghcr.io/redisbackup/redisbackup"
REDIS_UID = 999  # the redis and valkey images' user: dump.rdb is written as the user that will read it
_HARDENED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def default_image(version: str) -> str:
    """This release's image (the init container's `redisbackup restore` must read what this release wrote)."""
    return f"{IMAGE_REPOSITORY}:{version.split('+', 1)[0]}"


@dataclass(frozen=True)
class RestoreRequest:
    """What to restore (`snapshot_name` of `namespace`) into what (`name`), with which images."""

    snapshot_name: str
    namespace: str
    name: str
    image: str
    """The redisbackup image (its `restore` command runs in the init container)."""
    engine: str = "redis"
    engine_version: str | None = None
    node_groups: int = 0
    """0: a single-node snapshot; N: a Redis Cluster snapshot of N node groups."""
    replicas: int = 0
    """Replicas per node group of a restored cluster."""

    @classmethod
    def of(
        cls, body: Mapping[str, Any], *, name: str | None, image: str, replicas: int | None = None
    ) -> RestoreRequest:
        """From a RedisBackup: its snapshot name, engine, version and node groups."""
        spec, status = body.get("spec") or {}, body.get("status") or {}
        snapshot_name = str(spec.get("snapshotName", ""))
        groups = int(status.get("numNodeGroups") or 0) if status.get("replicationGroupId") else 0
        failover = status.get("automaticFailover") == "enabled"
        return cls(
            snapshot_name=snapshot_name,
            namespace=str((body.get("metadata") or {}).get("namespace", "")),
            name=name or f"{snapshot_name.lower()}-restored",
            image=image,
            engine=str(status.get("engine") or "redis"),
            engine_version=status.get("engineVersion"),
            node_groups=groups,
            replicas=replicas if replicas is not None else (1 if groups and failover else 0),
        )

    @property
    def redis_image(self) -> str:
        repository = "docker.io/valkey/valkey" if self.engine == "valkey" else "docker.io/library/redis"
        return f"{repository}:{self.engine_version or 'latest'}"

    @property
    def pods(self) -> int:
        return self.node_groups * (1 + self.replicas) if self.node_groups else 1


def _volume_mounts(*, data: bool) -> list[dict[str, Any]]:
    mounts = [{"name": "data", "mountPath": "/data"}] if data else []
    return [
        *mounts,
        {"name": "storage-config", "mountPath": "/etc/redisbackup/config", "readOnly": True},
        {"name": "s3-keys", "mountPath": "/etc/redisbackup/s3", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


_VOLUMES = [
    {"name": "storage-config", "configMap": {"name": CONFIG_MAP}},
    {"name": "s3-keys", "secret": {"secretName": S3_SECRET}},
    {"name": "tmp", "emptyDir": {}},
]
_CONFIG_ENV = {"name": "REDISBACKUP_CONFIG", "value": "/etc/redisbackup/config/config.yaml"}


def _rbac(request: RestoreRequest) -> list[dict[str, Any]]:
    role = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SERVICE_ACCOUNT}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": SERVICE_ACCOUNT},
            "rules": [{"apiGroups": ["redisbackup.io"], "resources": ["redisbackups"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT}],
            "roleRef": role,
        },
    ]


def _service(request: RestoreRequest) -> dict[str, Any]:
    ports = [{"name": "redis", "port": 6379}]
    spec: dict[str, Any] = {"clusterIP": "None", "selector": {"app.kubernetes.io/name": request.name}}
    if request.node_groups:
        ports.append({"name": "bus", "port": 16379})
        spec["publishNotReadyAddresses"] = True  # the Job meets the nodes before the cluster is ok
    spec["ports"] = ports
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": request.name}, "spec": spec}


def _init_container(request: RestoreRequest) -> dict[str, Any]:
    args = ["restore", f"--snapshot-name={request.snapshot_name}", "--to-dir=/data", "--skip-if-not-empty"]
    env: list[dict[str, Any]] = [_CONFIG_ENV]
    if request.node_groups:
        args.insert(2, "--node-group=auto")
        env = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, _CONFIG_ENV]
    return {
        "name": "restore",
        "image": request.image,
        "args": args,
        "env": env,
        "securityContext": {**_HARDENED, "readOnlyRootFilesystem": True},
        "volumeMounts": _volume_mounts(data=True),
    }


def _redis_container(request: RestoreRequest) -> dict[str, Any]:
    server = "valkey-server" if request.engine == "valkey" else "redis-server"
    args = [server, "--dir", "/data", "--appendonly", "no"]
    ports = [{"name": "redis", "containerPort": 6379}]
    if request.node_groups:
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "/data/nodes.conf"]
        ports.append({"name": "bus", "containerPort": 16379})
    cli = "valkey-cli" if request.engine == "valkey" else "redis-cli"
    return {
        "name": "redis",
        "image": request.redis_image,
        "args": args,
        "ports": ports,
        "readinessProbe": {"exec": {"command": [cli, "ping"]}},
        "securityContext": _HARDENED,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }


def _statefulset(request: RestoreRequest) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": request.name}
    spec: dict[str, Any] = {
        "serviceName": request.name,
        "replicas": request.pods,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": SERVICE_ACCOUNT,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": REDIS_UID,
                    "runAsGroup": REDIS_UID,
                    "fsGroup": REDIS_UID,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "initContainers": [_init_container(request)],
                "containers": [_redis_container(request)],
                "volumes": _VOLUMES,
            },
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
    }
    if request.node_groups:
        spec["podManagementPolicy"] = "Parallel"
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": request.name}, "spec": spec}


def _join_job(request: RestoreRequest) -> dict[str, Any]:
    nodes = ",".join(f"{request.name}-{ordinal}.{request.name}:6379" for ordinal in range(request.pods))
    container = {
        "name": "restore-cluster",
        "image": request.image,
        "args": [
            "restore-cluster",
            f"--snapshot-name={request.snapshot_name}",
            "--preloaded",
            f"--replicas={request.replicas}",
            f"--nodes={nodes}",
        ],
        "env": [_CONFIG_ENV],
        "securityContext": {**_HARDENED, "readOnlyRootFilesystem": True},
        "volumeMounts": _volume_mounts(data=False),
    }
    pod_spec = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": _VOLUMES,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{request.name}-join"},
        "spec": {"backoffLimit": 20, "template": {"spec": pod_spec}},
    }


def restore_objects(request: RestoreRequest) -> list[dict[str, Any]]:
    objects = [*_rbac(request), _service(request), _statefulset(request)]
    if request.node_groups:
        objects.append(_join_job(request))
    return objects


def restore_yaml(request: RestoreRequest) -> str:
    """The objects as one YAML stream, with a header that says what they do and what they need."""
    what = (
        f"a Redis Cluster of {request.node_groups} node groups ({request.pods} Pods)"
        if request.node_groups
        else "a single Redis node"
    )
    header = [
        f'# {request.name}: {what}, restored from snapshot "{request.snapshot_name}".',
        f"#   kubectl apply -n {request.namespace} -f restore.yaml",
        "# The init container checks each RDB against the snapshot's manifest before Redis starts. It needs the",
        f"# operator's storage settings in ConfigMap {CONFIG_MAP} (key config.yaml) and the S3 keys in Secret",
        f"# {S3_SECRET} of this namespace (see manifests/samples/restore/node.yaml).",
    ]
    documents = yaml.safe_dump_all(restore_objects(request), sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + documents
