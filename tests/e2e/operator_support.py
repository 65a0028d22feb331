"""Shared steps of the operator e2e tests: apply RedisBackups, wait for phases, read stored snapshots back.

`start_scene` (a fixture, loaded by tests/conftest.py) starts an operator for the test's namespace and gives a
`Scene`: the steps nearly every operator test takes (mirror a Redis source into the namespace, apply a
RedisBackup, wait for its phase or a condition) without repeating the namespace, the API client and the operator in
each call, so that a test reads as its scenario.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import anycrc
import pytest
import yaml
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator, StartOperator
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror, Mirrored
from devstack.redis_nodes import Topology
from redisbackup.k8s.events import event_order

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"


def manifest(name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RedisBackup", "metadata": {"name": name}, "spec": spec}
    )


def apply(kube: Cluster, namespace: str, name: str, **spec: Any) -> None:
    """`kubectl apply` a RedisBackup, as users do."""
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(name, **spec))


def get(api: client.ApiClient, namespace: str, name: str, *, plural: str = PLURAL) -> dict[str, Any] | None:
    """The custom object (a RedisBackup unless `plural` says otherwise), or None when there is none."""
    try:
        body: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name
        )  # type: ignore[assignment]
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return body


def wait_for(
    api: client.ApiClient,
    namespace: str,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    *,
    what: str,
    timeout: float = 90.0,
    operator: RunningOperator | None = None,
) -> dict[str, Any]:
    """Poll the RedisBackup until `check(body)`; fail with its last status (and the operator's log)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        body = get(api, namespace, name)
        if body is not None and check(body):
            return body
        time.sleep(0.2)
    log = f"\noperator log:\n{operator.log_tail()}" if operator is not None else ""
    status = json.dumps((body or {}).get("status"), indent=2)
    raise AssertionError(f"RedisBackup {namespace}/{name} never {what} in {timeout:.0f}s; status: {status}{log}")


def wait_phase(
    api: client.ApiClient,
    namespace: str,
    name: str,
    phase: str,
    *,
    timeout: float = 90.0,
    operator: RunningOperator | None = None,
) -> dict[str, Any]:
    return wait_for(
        api,
        namespace,
        name,
        lambda body: (body.get("status") or {}).get("phase") == phase,
        what=f"reached phase {phase}",
        timeout=timeout,
        operator=operator,
    )


def wait_gone(api: client.ApiClient, namespace: str, name: str, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while get(api, namespace, name) is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"RedisBackup {namespace}/{name} still exists after {timeout:.0f}s")
        time.sleep(0.2)


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    assert found, f"no {kind} condition in {json.dumps(body.get('status'))}"
    return found[0]


def has_condition(body: dict[str, Any], kind: str, *, status: str | None = None, reason: str | None = None) -> bool:
    """Whether the object has condition `kind` (with that status and reason, where given)."""
    return any(
        c["type"] == kind
        and (status is None or c.get("status") == status)
        and (reason is None or c.get("reason") == reason)
        for c in (body.get("status") or {}).get("conditions") or []
    )


def directory_of(body: dict[str, Any], prefix: str = "") -> str:
    """Where a RedisBackup's objects are stored: `<prefix><namespace>/<snapshotName>/<uid>/`."""
    metadata, spec = body["metadata"], body["spec"]
    return f"{prefix}{metadata['namespace']}/{spec['snapshotName']}/{metadata['uid']}/"


def delete(api: client.ApiClient, namespace: str, name: str) -> None:
    client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def events_of(api: client.ApiClient, namespace: str, name: str, *, kind: str = "RedisBackup") -> list[tuple[str, str]]:
    """(reason, message) of the Events about the `kind` (a RedisBackup unless said otherwise) `name`, oldest first."""
    listing = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
    )
    # The order the console shows (time to the second, then resourceVersion), on the Events as JSON.
    ordered = sorted((api.sanitize_for_serialization(event) for event in listing.items), key=event_order)
    return [(event["reason"], event["message"]) for event in ordered]


def assert_restores(rdb: Path, source: Any, factory: RedisFactory) -> dict[bytes, bytes]:
    """Load `rdb` into a fresh redis-server and compare every key with the `source` client's data."""
    restored = factory.from_rdb(rdb)
    expected = redis_nodes.dataset(source)
    assert expected, "the source had no data: the test would prove nothing"
    with restored.client() as fresh:
        assert redis_nodes.dataset(fresh) == expected
    return expected


def fetch_object(bucket: Any, key: str, destination: Path) -> Path:
    """Download `key` from the test bucket (devstack.fixtures.s3.S3Bucket) to a file."""
    response = bucket.client().get_object(Bucket=bucket.bucket, Key=key)
    destination.write_bytes(response["Body"].read())
    return destination


def assert_stored_rdb(path: Path, node: dict[str, Any]) -> None:
    """The stored bytes are what the status says: size, SHA-256, and a CRC-64 trailer that matches the data."""
    data = path.read_bytes()
    assert str(len(data)) == node["cacheSize"]
    assert hashlib.sha256(data).hexdigest() == node["sha256"]
    assert data[-8:][::-1].hex() == node["crc64"], "the status CRC is the RDB's own trailer"
    assert anycrc.Model("CRC64-REDIS").calc(data[:-8]) == int(node["crc64"], 16), "the trailer matches the data"
    assert data[:5] == b"REDIS"


def fill(topology: Topology, keys: int) -> None:
    """Write `keys` keys of every Redis type into the topology's primary (none when `keys` is 0)."""
    if keys:
        with topology.primary.client() as redis:
            redis_nodes.fill_mixed(redis, count=keys)


@dataclass(frozen=True)
class Scene:
    """The test's namespace with an operator serving it, and the steps operator scenarios share."""

    kube: Cluster
    api: client.ApiClient
    namespace: str
    operator: RunningOperator
    mirror: Mirror

    def pods(self, topology: Topology, name: str = "cache", *, keys: int = 0) -> Mirrored:
        """The topology as plain Pods `name-001`, … (ElastiCache's node names), after writing `keys` keys."""
        fill(topology, keys)
        return self.mirror.pods(topology, self.namespace, name)

    def statefulset(self, topology: Topology, name: str = "cache", *, keys: int = 0) -> Mirrored:
        """The topology as a StatefulSet `name` (pods `name-0`, …), after writing `keys` keys."""
        fill(topology, keys)
        return self.mirror.statefulset(topology, self.namespace, name)

    def kubectl(self, *args: str, **options: Any) -> CompletedProcess[str]:
        """kubectl in the test's namespace (the options are Cluster.kubectl's: input, check, timeout)."""
        return self.kube.kubectl(*args, "-n", self.namespace, **options)

    def apply(self, name: str, **spec: Any) -> None:
        apply(self.kube, self.namespace, name, **spec)

    def backup(self, name: str, *, timeout: float = 90.0, **spec: Any) -> dict[str, Any]:
        """Apply RedisBackup `name` (snapshotName `name` unless given) and wait until it is available."""
        self.apply(name, **{"snapshotName": name, **spec})
        return self.wait_phase(name, "available", timeout=timeout)

    def get(self, name: str) -> dict[str, Any] | None:
        return get(self.api, self.namespace, name)

    def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], bool], *, what: str, timeout: float = 90.0
    ) -> dict[str, Any]:
        return wait_for(self.api, self.namespace, name, check, what=what, timeout=timeout, operator=self.operator)

    def wait_phase(self, name: str, phase: str, *, timeout: float = 90.0) -> dict[str, Any]:
        return wait_phase(self.api, self.namespace, name, phase, timeout=timeout, operator=self.operator)

    def wait_condition(
        self, name: str, kind: str, *, status: str | None = None, reason: str | None = None, timeout: float = 90.0
    ) -> dict[str, Any]:
        """Wait until RedisBackup `name` has condition `kind` (with that status and reason, where given)."""
        shown = " ".join(f"{key}={value}" for key, value in (("status", status), ("reason", reason)) if value)
        return self.wait_for(
            name,
            lambda body: has_condition(body, kind, status=status, reason=reason),
            what=f"showed condition {kind} {shown}".rstrip(),
            timeout=timeout,
        )

    def events(self, name: str) -> list[tuple[str, str]]:
        return events_of(self.api, self.namespace, name)


StartScene = Callable[..., Scene]


@pytest.fixture
def start_scene(
    kube: Cluster, kube_api: client.ApiClient, start_operator: StartOperator, namespace: str, mirror: Mirror
) -> StartScene:
    """``start_scene(storage=..., env=..., limits=..., webhook=...)`` → a `Scene` whose operator serves the test's
    namespace (the options are devstack.operator.start's; the operator is stopped after the test)."""

    def _start(**options: Any) -> Scene:
        return Scene(kube, kube_api, namespace, start_operator(namespaces=[namespace], **options), mirror)

    return _start
