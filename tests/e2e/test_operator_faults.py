"""Faults of the operator's own making reach the status, on the real control plane: a Secret whose value is not
text fails the backup at once naming it, and a verification that cannot read its snapshot says so (Verified
Unknown) while it is retried, then records why it could not verify. (A Secret the chart's RBAC may not read:
tests/e2e/test_chart_install.py; the policy in detail: tests/unit/reconciler/test_fault_policy.py.)"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, file_storage
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, apply, condition, events_of, wait_for, wait_phase

pytestmark = pytest.mark.e2e


def test_a_secret_value_that_is_not_text_fails_the_backup_at_once_naming_the_key(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
) -> None:
    operator = start_operator(namespaces=[namespace], limits={"snapshotAttempts": 5})
    mirror.pods(redis_standalone, namespace, "cache")
    binary = base64.b64encode(b"\xff\xfe\x00password").decode()
    client.CoreV1Api(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": "binary"}, "data": {"password": binary}}
    )
    apply(
        kube,
        namespace,
        "garbled",
        snapshotName="garbled",
        cacheClusterId="cache-001",
        auth={"secretRef": {"name": "binary", "key": "password"}},
    )
    failed = condition(wait_phase(kube_api, namespace, "garbled", "failed", operator=operator), "Failed")
    assert failed["reason"] == "InvalidParameterValue"
    assert failed["message"].startswith(
        f'spec.auth.secretRef: key password of Secret "binary" in namespace {namespace} is not UTF-8 text'
    )
    assert "gave up" not in failed["message"], "failed at once"
    assert "InvalidParameterValue" in [reason for reason, _ in events_of(kube_api, namespace, "garbled")]
    assert int(redis_standalone.primary.info("stats")["sync_full"]) == 0, "nothing was read from Redis"


def test_a_verification_that_cannot_read_its_snapshot_says_so_while_retried_then_records_why(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    snapshots = tmp_path / "snapshots"
    operator = start_operator(
        namespaces=[namespace],
        storage=file_storage(snapshots),
        limits={"snapshotAttempts": 3, "retryInitialDelaySeconds": 2, "retryMaxDelaySeconds": 3},
    )
    mirror.pods(redis_standalone, namespace, "cache")
    with redis_standalone.primary.client() as redis:
        redis.set("key", "value")
    apply(kube, namespace, "checked", snapshotName="checked", cacheClusterId="cache-001")
    body = wait_phase(kube_api, namespace, "checked", "available", operator=operator)
    # The stored snapshot's directory becomes a file: reading it fails with ENOTDIR, as a broken volume would.
    directory = snapshots / namespace / "checked" / body["metadata"]["uid"]
    shutil.rmtree(directory)
    directory.write_text("not a directory")

    client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "checked", {"spec": {"verify": True}}
    )
    pending = wait_for(
        kube_api,
        namespace,
        "checked",
        lambda b: any(c["type"] == "Verified" and c["status"] == "Unknown" for c in b["status"]["conditions"]),
        what="told that the verification is not done yet",
        operator=operator,
    )
    verified = condition(pending, "Verified")
    assert verified["reason"] == "StorageUnavailable"
    assert "(attempt 1 of 3, limits.snapshotAttempts" in verified["message"]
    done = wait_for(
        kube_api,
        namespace,
        "checked",
        lambda b: bool(b["status"].get("verification")),
        what="recorded its verification",
        timeout=60,
        operator=operator,
    )
    verified = condition(done, "Verified")
    assert (verified["status"], verified["reason"]) == ("False", "StorageUnavailable")
    assert "gave up after 3 attempts" in done["status"]["verification"]["message"]
    assert done["status"]["phase"] == "available", "the snapshot is still there to see; its verification failed"
    told = [message for reason, message in events_of(kube_api, namespace, "checked") if reason == "StorageUnavailable"]
    assert any(message.startswith("Verification not done yet: ") for message in told), told
