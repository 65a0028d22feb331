"""Backups outlive their source; deleting a RedisBackup deletes its data (Delete) or keeps it (Retain), and waits
for storage that is down (DeletionBlocked) unless the user gives the data up."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from devstack.fixtures.operator import s3_storage
from devstack.fixtures.s3 import S3Bucket
from devstack.processes import Process
from devstack.redis_nodes import Topology
from devstack.s3 import start_seaweedfs
from devstack.wait import wait_until
from tests.e2e.operator_support import StartScene, condition, delete, directory_of, fill, wait_gone

pytestmark = pytest.mark.e2e


@pytest.mark.smoke
def test_deleting_a_backup_deletes_its_objects_and_retain_keeps_them(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    scene = start_scene(storage=s3_storage(s3))
    scene.pods(redis_standalone, keys=50)
    for name in ("dropped", "kept"):
        scene.apply(name, snapshotName=name, cacheClusterId="cache-001")
    dropped = scene.wait_phase("dropped", "available")
    kept = scene.wait_phase("kept", "available")
    assert len(s3.keys(directory_of(dropped))) == len(s3.keys(directory_of(kept))) == 2

    # deletionPolicy is the one field that may change after creation.
    scene.kubectl("patch", "rb", "kept", "--type=merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
    scene.kubectl("delete", "rb", "dropped", "kept", "--timeout=60s")

    assert scene.get("dropped") is None
    assert scene.get("kept") is None
    assert s3.keys(directory_of(dropped)) == []
    (kept_node,) = kept["status"]["nodeSnapshots"]
    assert s3.keys(directory_of(kept)) == sorted([f"{directory_of(kept)}manifest.json", kept_node["objectKey"]])
    assert s3.uploads() == []


@pytest.mark.smoke
def test_a_backup_outlives_its_statefulset_and_the_whole_namespace_of_its_source(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    scene = start_scene(storage=s3_storage(s3))
    kube = scene.kube
    source_namespace = kube.create_namespace("shop")
    core, apps = client.CoreV1Api(scene.api), client.AppsV1Api(scene.api)
    fill(redis_standalone, 50)
    scene.mirror.statefulset(redis_standalone, source_namespace, "cache")

    # Another namespace's Redis is read only when that namespace agrees.
    scene.apply("baseline", snapshotName="baseline", cacheClusterId="cache", sourceNamespace=source_namespace)
    waiting = scene.wait_condition("baseline", "Progressing", reason="SourceNamespaceNotShared")
    assert waiting["status"]["phase"] == "creating"
    kube.kubectl("annotate", "namespace", source_namespace, f"redisbackup.io/allow-backups-from={scene.namespace}")
    available = scene.wait_phase("baseline", "available")
    stored = s3.keys(directory_of(available))
    assert len(stored) == 2

    apps.delete_namespaced_stateful_set("cache", source_namespace)
    wait_until(lambda: not core.list_namespaced_pod(source_namespace).items, timeout=60, what="GC of the source's pods")
    kube.delete_namespace(source_namespace)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(source_namespace)
        except client.ApiException as error:
            return error.status == 404
        return False

    wait_until(namespace_gone, timeout=90, what=f"deletion of namespace {source_namespace}")
    after = scene.get("baseline")
    assert after is not None
    assert after["status"] == available["status"], "nothing about the backup changed"
    assert condition(after, "Ready")["status"] == "True"
    assert s3.keys(directory_of(available)) == stored


@dataclass
class OwnS3(S3Bucket):
    """A bucket on an S3 server of the test's own, which it can stop and start again on the same address."""

    log_dir: Path = Path()

    def stop(self) -> None:
        self.server.process.stop()

    def start(self) -> None:
        old = self.server.process
        self.server.process = Process(f"{old.name}-again", old.argv, log_dir=self.log_dir, cwd=self.server.data_dir)

        def serves() -> bool:
            self.keys()
            return True

        self.server.process.wait_ready(serves, timeout=60, what="serving S3 again")


@pytest.fixture
def own_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnS3]:
    base = tmp_path_factory.mktemp("own-s3")
    server = start_seaweedfs(base)
    bucket = f"test-{secrets.token_hex(4)}"
    server.create_bucket(bucket)
    yield OwnS3(server, bucket, log_dir=base / "logs")
    with contextlib.suppress(Exception):
        server.stop()


def test_deletion_is_blocked_while_s3_is_down_and_completes_when_it_returns_unless_forced(
    start_scene: StartScene, redis_standalone: Topology, own_s3: OwnS3
) -> None:
    scene = start_scene(storage=s3_storage(own_s3))
    scene.pods(redis_standalone)
    for name in ("patient", "forced"):
        scene.apply(name, snapshotName=name, cacheClusterId="cache-001")
    patient = scene.wait_phase("patient", "available")
    forced = scene.wait_phase("forced", "available")

    own_s3.stop()
    delete(scene.api, scene.namespace, "patient")
    delete(scene.api, scene.namespace, "forced")
    for name in ("patient", "forced"):
        blocked = scene.wait_condition(name, "DeletionBlocked", status="True")
        assert blocked["status"]["phase"] == "deleting"
        reason = condition(blocked, "DeletionBlocked")
        assert reason["reason"] == "StorageUnavailable"
        assert 'redisbackup.io/force-delete="true"' in reason["message"]
        assert blocked["metadata"]["finalizers"] == ["redisbackup.io/data"]

    scene.kubectl("annotate", "rb", "forced", "redisbackup.io/force-delete=true")
    wait_gone(scene.api, scene.namespace, "forced")
    assert scene.get("patient") is not None, "without the annotation the data is waited for"

    own_s3.start()
    wait_gone(scene.api, scene.namespace, "patient", timeout=90)
    assert own_s3.keys(directory_of(patient)) == []
    kept = own_s3.keys(directory_of(forced))
    assert kept, "the force-deleted backup's data was given up on, not deleted"
