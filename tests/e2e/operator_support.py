"""Shared steps of the operator e2e tests: apply RedisBackups, wait for phases, read stored snapshots back."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anycrc
import yaml
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator
from devstack.fixtures.redis import RedisFactory

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"


def manifest(name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RedisBackup", "metadata": {"name": name}, "spec": spec}
    )


def apply(kube: Cluster, namespace: str, name: str, **spec: Any) -> None:
    """`kubectl apply` a RedisBackup, as users do."""
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(name, **spec))


def get(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
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
    assert found, f"no {kind} condition in {body.get('status')}"
    return found[0]


def delete(api: client.ApiClient, namespace: str, name: str) -> None:
    client.CustomObjectsApi(api).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def events_of(api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str]]:
    """(reason, message) of the Events about RedisBackup `name`, oldest first."""
    listing = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=RedisBackup"
    )
    ordered = sorted(listing.items, key=lambda e: (e.first_timestamp or e.event_time or 0, e.metadata.name))
    return [(event.reason, event.message) for event in ordered]


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
