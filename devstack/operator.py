"""The operator as a child process: `redisbackup operator` with a configuration file of its own.

Used by the pytest fixtures (devstack.fixtures.operator), the benchmarks and `make demo`:

    running = start(cluster, log_dir, namespaces=["team"], storage=s3_storage(bucket))
    running.kill(); running.restart(); running.metrics()["redisbackup_snapshots_started_total"]

Each operator gets its own configuration file (`storage`: `file_storage(path)` or `s3_storage(bucket)`), free
ports for its webhook, metrics and liveness endpoints, and (unless told otherwise) short retry delays, so tests do
not wait for production backoffs. `kill()` is a SIGKILL (a crash: no cleanup runs), `restart()` starts the same
command again with the same configuration.
"""

from __future__ import annotations

import contextlib
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes import client

from devstack.cluster import Cluster
from devstack.net import free_port
from devstack.processes import Process, StartupError

REPO = Path(__file__).resolve().parents[1]
CRD_FILE = REPO / "crds" / "redisbackups.redisbackup.io.yaml"
CRD_NAME = "redisbackups.redisbackup.io"
SCHEDULE_CRD_FILE = REPO / "crds" / "redisbackupschedules.redisbackup.io.yaml"
SCHEDULE_CRD_NAME = "redisbackupschedules.redisbackup.io"
PROBE_WARNING = "is case-insensitive"
FINALIZER = "redisbackup.io/data"
START_ATTEMPTS = 3  # see start()

# Fast retries for tests; the production defaults (seconds to a minute) would only make tests slow.
TEST_LIMITS: dict[str, Any] = {
    "retryInitialDelaySeconds": 0.5,
    "retryMaxDelaySeconds": 3,
    "sourceMissingDeadlineSeconds": 120,
    "progressIntervalSeconds": 1,
    "connectTimeoutSeconds": 5,
    "stallTimeoutSeconds": 20,
}


class S3BucketLike(Protocol):
    """What `s3_storage` needs of devstack.fixtures.s3.S3Bucket."""

    @property
    def endpoint_url(self) -> str: ...
    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def bucket(self) -> str: ...


@dataclass
class Storage:
    """A `storage` section for the operator's configuration file, plus the environment it needs."""

    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)


def file_storage(path: Path, name: str = "embedded") -> Storage:
    return Storage({"defaultLocation": name, "locations": {name: {"file": {"path": str(path)}}}})


def s3_storage(
    bucket: S3BucketLike, *, prefix: str = "", name: str = "s3", credentials_dir: Path | None = None
) -> Storage:
    """The bucket as the default location; keys from the AWS variables, or from files in `credentials_dir`."""
    location: dict[str, Any] = {
        "bucket": bucket.bucket,
        "prefix": prefix,
        "endpoint": bucket.endpoint_url,
        "region": bucket.region,
        "addressingStyle": "path",
    }
    env = {}
    if credentials_dir is not None:  # as the chart mounts an existingSecret
        credentials_dir.mkdir(parents=True, exist_ok=True)
        (credentials_dir / "AWS_ACCESS_KEY_ID").write_text(bucket.access_key)
        (credentials_dir / "AWS_SECRET_ACCESS_KEY").write_text(bucket.secret_key)
        location["credentials"] = {"directory": str(credentials_dir)}
    else:
        env = {"AWS_ACCESS_KEY_ID": bucket.access_key, "AWS_SECRET_ACCESS_KEY": bucket.secret_key}
    return Storage({"defaultLocation": name, "locations": {name: {"s3": location}}}, env)


@dataclass
class RunningOperator:
    process: Process
    kube: Cluster
    namespaces: tuple[str, ...]
    webhook_port: int
    configuration: str
    env: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None
    metrics_port: int = 0
    health_port: int = 0
    webhook: bool = True
    log_dir: Path | None = None
    restarts: int = 0

    @property
    def webhook_url(self) -> str:
        return f"https://127.0.0.1:{self.webhook_port}/validate-redisbackup"

    def stop(self) -> None:
        """Stop the operator; its ValidatingWebhookConfiguration stays (fail closed, as in a real outage)."""
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: the operator crashes mid-work; no handler, no cleanup runs."""
        self.process.kill()

    def restart(self, timeout: float = 60.0) -> None:
        """Start the same command again (after `stop` or `kill`), and wait until it serves."""
        if self.process.alive():
            self.process.stop()
        assert self.log_dir is not None
        self.restarts += 1
        self.process = Process(
            f"{self.process.name.split('#')[0]}#{self.restarts}", self.process.argv, log_dir=self.log_dir, env=self.env
        )
        self.wait_serving(timeout)

    def wait_serving(self, timeout: float = 60.0) -> None:
        if self.webhook and self.namespaces:
            self.process.wait_ready(
                lambda: self.webhook_answers(self.namespaces[0]), timeout=timeout, what="serving its webhook"
            )
        else:
            self.process.wait_ready(self.healthy, timeout=timeout, what="answering its liveness probe")

    def delete_configuration(self) -> None:
        with self.kube.api_client() as api, contextlib.suppress(client.ApiException):
            client.AdmissionregistrationV1Api(api).delete_validating_webhook_configuration(self.configuration)

    def webhook_answers(self, namespace: str) -> bool:
        """Whether the apiserver calls this webhook now: a server-side dry run comes back with its warning."""
        probe = (
            "apiVersion: redisbackup.io/v1alpha1\nkind: RedisBackup\n"
            "metadata: {name: webhook-probe}\nspec: {snapshotName: probe, cacheClusterId: Probe}\n"
        )
        result = self.kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=probe, check=False)
        return result.returncode == 0 and PROBE_WARNING in result.stderr

    def healthy(self) -> bool:
        if not self.health_port:
            return False
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def metrics(self) -> dict[str, float]:
        """The operator's Prometheus metrics: `name{labels}` → value."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)


def install_crd(kube: Cluster, timeout: float = 60.0) -> None:
    """Both CRDs (RedisBackup, RedisBackupSchedule), Established."""
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE), "-f", str(SCHEDULE_CRD_FILE))
    for name in (CRD_NAME, SCHEDULE_CRD_NAME):
        kube.kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s", f"crd/{name}")


def write_config(
    path: Path,
    *,
    storage: Storage,
    namespaces: Sequence[str],
    limits: Mapping[str, Any],
    metrics: int,
    health: int,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    document = {
        "storage": storage.config,
        "limits": dict(limits),
        "namespaces": list(namespaces),
        "metrics": {"host": "127.0.0.1", "port": metrics},
        "health": {"host": "127.0.0.1", "port": health},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start(
    kube: Cluster,
    log_dir: Path,
    *,
    namespaces: Sequence[str],
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    storage: Storage | None = None,
    limits: Mapping[str, Any] | None = None,
    webhook: bool = True,
    timeout: float = 60.0,
    configuration: str | None = None,
    test_limits: bool = True,
    config: Mapping[str, Any] | None = None,
) -> RunningOperator:
    """Start `redisbackup operator` for `namespaces` and return once it serves (its webhook, or its probe).
    `config`: more sections of its configuration file (e.g. finalSnapshots)."""
    suffix = "-".join(namespaces) or "all"
    configuration = configuration or f"redisbackup-test-{suffix}"[:253]
    limits = {**(TEST_LIMITS if test_limits else {}), **(limits or {})}
    for attempt in range(1, START_ATTEMPTS + 1):
        # Every attempt on new ports: a port picked free may be taken (by an outgoing connection: any port of the
        # ephemeral range) before the operator binds it.
        port, metrics, health = (free_port("127.0.0.1") for _ in range(3))
        storage = storage or file_storage(log_dir / f"snapshots-{port}")  # the first attempt's, kept by the others
        config_path = write_config(
            log_dir / f"operator-{suffix}-{port}.yaml",
            storage=storage,
            namespaces=namespaces,
            limits=limits,
            metrics=metrics,
            health=health,
            extra=config,
        )
        argv = [
            sys.executable,
            "-m",
            "redisbackup.cli.main",
            "operator",
            "--config",
            str(config_path),
            "--webhook-listen",
            f"127.0.0.1:{port}",
            "--webhook-configuration",
            configuration,
            *(() if webhook else ("--no-webhook",)),
            *(arg for namespace in namespaces for arg in ("--namespace", namespace)),
            *args,
        ]
        full_env = {"KUBECONFIG": str(kube.kubeconfig), **storage.env, **(env or {})}
        process = Process(f"operator-{suffix}-{port}", argv, log_dir=log_dir, env=full_env)
        running = RunningOperator(
            process,
            kube,
            tuple(namespaces),
            port,
            configuration,
            dict(full_env),
            config_path=config_path,
            metrics_port=metrics,
            health_port=health,
            webhook=webhook,
            log_dir=log_dir,
        )
        try:
            running.wait_serving(timeout)
        except StartupError as failure:
            process.stop()
            if attempt == START_ATTEMPTS or not failure.port_taken:
                raise
            continue
        return running
    raise AssertionError("unreachable: the last attempt returns or raises")


def release_leftovers(kube: Cluster, namespaces: Sequence[str]) -> None:
    """Remove our finalizer from the RedisBackups (and RedisBackupSchedules: kopf's daemons hold one there) a stopped
    operator left, and the final-snapshot finalizer from workloads, so their namespaces can be deleted."""
    _release_workloads(kube, namespaces)
    with kube.api_client() as api:
        objects = client.CustomObjectsApi(api)
        for namespace, plural in ((ns, p) for ns in namespaces for p in ("redisbackupschedules", "redisbackups")):
            with contextlib.suppress(client.ApiException):
                listing: Any = objects.list_namespaced_custom_object("redisbackup.io", "v1alpha1", namespace, plural)
                for item in listing.get("items", []):
                    if FINALIZER in (item["metadata"].get("finalizers") or []):
                        kept = [f for f in item["metadata"]["finalizers"] if f != FINALIZER]
                        with contextlib.suppress(client.ApiException):
                            objects.patch_namespaced_custom_object(
                                "redisbackup.io",
                                "v1alpha1",
                                namespace,
                                plural,
                                item["metadata"]["name"],
                                {"metadata": {"finalizers": kept or None}},
                            )


def _release_workloads(kube: Cluster, namespaces: Sequence[str]) -> None:
    finalizer = "redisbackup.io/final-snapshot"
    with kube.api_client() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        for namespace in namespaces:
            listed = [
                (item, patch)
                for lister, patch in (
                    (core.list_namespaced_pod, core.patch_namespaced_pod),
                    (apps.list_namespaced_stateful_set, apps.patch_namespaced_stateful_set),
                )
                for item in _items(lister, namespace)
            ]
            for item, patch in listed:
                if finalizer in (item.metadata.finalizers or []):
                    kept = [f for f in item.metadata.finalizers if f != finalizer]
                    with contextlib.suppress(client.ApiException):
                        patch(
                            item.metadata.name,
                            namespace,
                            {"metadata": {"finalizers": kept or None}},
                            _content_type="application/merge-patch+json",
                        )


def _items(lister: Any, namespace: str) -> list[Any]:
    try:
        return list(lister(namespace).items)
    except client.ApiException:
        return []
