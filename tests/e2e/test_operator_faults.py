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

from devstack.fixtures.operator import file_storage
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, StartScene, condition

pytestmark = pytest.mark.e2e


def test_a_secret_value_that_is_not_text_fails_the_backup_at_once_naming_the_key(
    start_scene: StartScene, redis_standalone: Topology
) -> None:
    scene = start_scene(limits={"snapshotAttempts": 5})
    scene.pods(redis_standalone)
    syncs_before = int(redis_standalone.primary.info("stats")["sync_full"])  # the server is shared by other tests
    binary = base64.b64encode(b"\xff\xfe\x00password").decode()
    client.CoreV1Api(scene.api).create_namespaced_secret(
        scene.namespace, {"metadata": {"name": "binary"}, "data": {"password": binary}}
    )
    scene.apply(
        "garbled",
        snapshotName="garbled",
        cacheClusterId="cache-001",
        auth={"secretRef": {"name": "binary", "key": "password"}},
    )
    failed = condition(scene.wait_phase("garbled", "failed"), "Failed")
    assert failed["reason"] == "InvalidParameterValue"
    assert failed["message"].startswith(
        f'spec.auth.secretRef: key password of Secret "binary" in namespace {scene.namespace} is not UTF-8 text'
    )
    assert "gave up" not in failed["message"], "failed at once"
    assert "InvalidParameterValue" in [reason for reason, _ in scene.events("garbled")]
    assert int(redis_standalone.primary.info("stats")["sync_full"]) == syncs_before, "nothing was read from Redis"


def test_a_verification_that_cannot_read_its_snapshot_says_so_while_retried_then_records_why(
    start_scene: StartScene, redis_standalone: Topology, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    scene = start_scene(
        storage=file_storage(snapshots),
        limits={"snapshotAttempts": 3, "retryInitialDelaySeconds": 2, "retryMaxDelaySeconds": 3},
    )
    scene.pods(redis_standalone)
    with redis_standalone.primary.client() as redis:
        redis.set("key", "value")
    body = scene.backup("checked", cacheClusterId="cache-001")
    # The stored snapshot's directory becomes a file: reading it fails with ENOTDIR, as a broken volume would.
    directory = snapshots / scene.namespace / "checked" / body["metadata"]["uid"]
    shutil.rmtree(directory)
    directory.write_text("not a directory")

    client.CustomObjectsApi(scene.api).patch_namespaced_custom_object(
        GROUP, VERSION, scene.namespace, PLURAL, "checked", {"spec": {"verify": True}}
    )
    pending = scene.wait_condition("checked", "Verified", status="Unknown")
    verified = condition(pending, "Verified")
    assert verified["reason"] == "StorageUnavailable"
    assert "(attempt 1 of 3, limits.snapshotAttempts" in verified["message"]
    done = scene.wait_for(
        "checked", lambda b: bool(b["status"].get("verification")), what="recorded its verification", timeout=60
    )
    verified = condition(done, "Verified")
    assert (verified["status"], verified["reason"]) == ("False", "StorageUnavailable")
    assert "gave up after 3 attempts" in done["status"]["verification"]["message"]
    assert done["status"]["phase"] == "available", "the snapshot is still there to see; its verification failed"
    told = [message for reason, message in scene.events("checked") if reason == "StorageUnavailable"]
    assert any(message.startswith("Verification not done yet: ") for message in told), told
