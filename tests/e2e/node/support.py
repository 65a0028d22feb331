"""Shared steps of the tests on the real node: the chart installed by helm (the image `make images` built from this
tree), the sample workloads applied as users apply them, Redis reached at its Pods' addresses, the operator's
Pods and their restarts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.cluster
import yaml
from kubernetes import client

from devstack import images
from devstack.cluster import Cluster
from devstack.fixtures.node import RealStack
from devstack.fixtures.s3 import S3Bucket
from devstack.node.inspect import ContainerProcess, container_processes
from devstack.operator import FINALIZER, REPO, TEST_LIMITS

CHART = REPO / "charts" / "redisbackup"
SAMPLES = REPO / "manifests" / "samples"
WORKLOADS = SAMPLES / "redis"
OPERATOR = "app.kubernetes.io/name=redisbackup,app.kubernetes.io/component=operator"
GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"


def image_values() -> dict[str, Any]:
    """The only values the tests change by default: the image built from this tree (by its content's tag)."""
    repository, tag = images.OPERATOR.reference.rsplit(":", 1)
    return {"image": {"repository": repository, "tag": tag}}


def s3_values(bucket: S3Bucket, secret: str, *, name: str = "archive", prefix: str = "") -> dict[str, Any]:
    """An S3 default location (the node's S3, where Pods reach it) with keys from `secret` (existingSecret)."""
    return {
        "storage": {
            "defaultLocation": name,
            "locations": {
                "embedded": None,
                name: {
                    "s3": {
                        "bucket": bucket.bucket,
                        "prefix": prefix,
                        "endpoint": bucket.endpoint_url,
                        "region": bucket.region,
                        "addressingStyle": "path",
                        "existingSecret": secret,
                    }
                },
            },
        }
    }


def merge(*documents: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for document in documents:
        for key, value in document.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def s3_secret(kube: Cluster, namespace: str, bucket: S3Bucket, name: str = "s3-credentials") -> str:
    kube.kubectl(
        "create",
        "secret",
        "generic",
        name,
        "-n",
        namespace,
        f"--from-literal=AWS_ACCESS_KEY_ID={bucket.access_key}",
        f"--from-literal=AWS_SECRET_ACCESS_KEY={bucket.secret_key}",
    )
    return name


@dataclass
class Release:
    """A helm release of the chart on the real node."""

    stack: RealStack
    name: str
    namespace: str
    values_file: Path
    watched: list[str] = field(default_factory=list)

    @property
    def kube(self) -> Cluster:
        return self.stack.kube

    def pods(self) -> list[dict[str, Any]]:
        listing = json.loads(
            self.kube.kubectl("get", "pods", "-n", self.namespace, "-l", OPERATOR, "-o", "json").stdout
        )
        return [pod for pod in listing["items"] if pod["metadata"].get("deletionTimestamp") is None]

    def pod(self) -> dict[str, Any]:
        (pod,) = self.pods()
        return pod

    def restarts(self) -> int:
        return sum(
            status.get("restartCount", 0)
            for pod in self.pods()
            for status in pod["status"].get("containerStatuses", [])
        )

    def log(self, tail: int = 80) -> str:
        result = self.kube.kubectl(
            "logs", "-n", self.namespace, "-l", OPERATOR, f"--tail={tail}", "--prefix", check=False
        )
        return result.stdout + result.stderr

    def processes(self) -> list[ContainerProcess]:
        names = {pod["metadata"]["name"] for pod in self.pods()}
        cluster = self.stack.cluster
        assert cluster.slot is not None
        found = container_processes(self.kube.kubeconfig, cluster.slot.cgroup)
        return [p for p in found if p.namespace == self.namespace and p.pod in names]

    def upgrade(self, values: Mapping[str, Any], *extra: str) -> None:
        self.values_file.write_text(yaml.safe_dump(dict(values)))
        self.kube.helm("upgrade", self.name, str(CHART), "-n", self.namespace, "-f", str(self.values_file), *extra)

    def uninstall(self) -> None:
        self.kube.helm("uninstall", self.name, "-n", self.namespace, "--wait", check=False)


def install(
    stack: RealStack,
    namespace: str,
    tmp: Path,
    values: Mapping[str, Any] | None = None,
    *,
    name: str = "redisbackup",
    watch: Iterable[str] = (),
    test_limits: bool = True,
) -> Release:
    """`helm install` of the chart (the tree's image; `values` on top), returning once its Deployment has rolled
    out and the apiserver calls its webhook."""
    document = merge(image_values(), {"limits": TEST_LIMITS} if test_limits else {}, values or {})
    watched = list(watch)
    if watched:
        document["watchNamespaces"] = watched
    path = tmp / f"values-{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    stack.kube.helm("install", name, str(CHART), "-n", namespace, "-f", str(path), "--wait", "--timeout=4m")
    release = Release(stack, name, namespace, path, watched)
    probe_namespace = watched[0] if watched else namespace
    wait_until(lambda: webhook_answers(stack.kube, probe_namespace), 90, "the webhook answers", release.log)
    return release


def webhook_answers(kube: Cluster, namespace: str) -> bool:
    probe = (
        "apiVersion: redisbackup.io/v1alpha1\nkind: RedisBackup\n"
        "metadata: {name: webhook-probe}\nspec: {snapshotName: probe, cacheClusterId: Probe}\n"
    )
    result = kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=probe, check=False)
    return result.returncode == 0 and "is case-insensitive" in result.stderr


def wait_until(check: Callable[[], bool], timeout: float, what: str, context: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:.0f}s\n{context()}")
        time.sleep(0.5)


# ----------------------------------------------------------------------------------------------------- workloads
def apply_workloads(kube: Cluster, namespace: str, *names: str, timeout: float = 300) -> None:
    """`kubectl apply` of sample workloads (manifests/samples/redis/<name>.yaml), waiting until they run."""
    for name in names:
        kube.kubectl("apply", "-n", namespace, "-f", str(WORKLOADS / f"{name}.yaml"))
    waits = [f"statefulset/{name}" for name in names]
    if "myclusteredredis" in names:
        waits.append("job/myclusteredredis-create")
    kube.rollout(namespace, *waits, timeout=timeout)


def pod_client(kube: Cluster, namespace: str, pod: str, **options: Any) -> redis.Redis:
    (address,) = [ip for name, ip in kube.pod_ips(namespace, "").items() if name == pod]
    return redis.Redis(host=address, port=6379, **options)


def cluster_client(kube: Cluster, namespace: str, statefulset: str) -> redis.cluster.RedisCluster:
    address = kube.pod_ips(namespace, "")[f"{statefulset}-0"]
    return redis.cluster.RedisCluster(host=address, port=6379)


def restarts(kube: Cluster, namespace: str) -> dict[str, int]:
    listing = json.loads(kube.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
    return {
        pod["metadata"]["name"]: sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses", []))
        for pod in listing["items"]
    }


def release_backups(kube: Cluster, namespace: str) -> None:
    """Drop our finalizer from the RedisBackups left in `namespace` (no operator may run any more)."""
    with kube.api_client() as api:
        objects = client.CustomObjectsApi(api)
        listing: Any = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        for item in listing["items"]:
            if FINALIZER in (item["metadata"].get("finalizers") or []):
                objects.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, item["metadata"]["name"], {"metadata": {"finalizers": None}}
                )


def volume_path(kube: Cluster, namespace: str, claim: str) -> Path:
    """Where the local-path provisioner keeps a PersistentVolumeClaim's files on this machine."""
    pvc = json.loads(kube.kubectl("get", "pvc", "-n", namespace, claim, "-o", "json").stdout)
    pv = json.loads(kube.kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)
    source = pv["spec"].get("hostPath") or pv["spec"].get("local")
    return Path(source["path"])
