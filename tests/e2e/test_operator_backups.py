"""The operator end to end: `kubectl apply` a RedisBackup, the real operator snapshots real redis-server nodes
(mirrored as Pods) into a real S3 server, and the status reads like ElastiCache's DescribeSnapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.datasets import server_version, written_rdb_version
from devstack.fixtures.operator import s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import Topology
from devstack.wait import wait_until
from redisbackup.domain.elasticache import snapshot_document_from_body
from tests.e2e.operator_support import (
    StartScene,
    assert_restores,
    assert_stored_rdb,
    condition,
    directory_of,
    fetch_object,
)

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


def test_a_pod_is_snapshotted_into_s3_and_the_stored_rdb_restores_every_key(
    start_scene: StartScene,
    redis_standalone: Topology,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    scene = start_scene(storage=s3_storage(s3, prefix="backups"))
    namespace, operator = scene.namespace, scene.operator
    source = redis_standalone.primary
    with source.client() as redis:
        redis_nodes.fill_mixed(redis, count=500)
        engine, version = server_version(redis)
        rdb_version = written_rdb_version(redis)
    scene.pods(redis_standalone, "myNonClusteredRedis".lower())

    # ElastiCache's example 1, verbatim: the identifier is case-insensitive.
    scene.apply("bkup-20150515", snapshotName="bkup-20150515", cacheClusterId="myNonClusteredRedis-001")
    waited = scene.kubectl("wait", "--for=condition=Ready", "--timeout=90s", "redisbackup/bkup-20150515", check=False)
    assert waited.returncode == 0, f"{waited.stderr}\n{operator.log_tail()}"
    body = scene.wait_phase("bkup-20150515", "available")

    status = body["status"]
    uid = body["metadata"]["uid"]
    directory = directory_of(body, "backups/")
    assert status["location"] == f"s3://{s3.bucket}/{directory}"
    assert (status["cacheClusterId"], status["numCacheNodes"], status["engine"], status["engineVersion"]) == (
        "myNonClusteredRedis-001",
        1,
        engine,
        version,
    )
    assert (status["port"], status["snapshotSource"], status["storage"]) == (source.port, "manual", "s3")
    (node,) = status["nodeSnapshots"]
    assert (node["cacheNodeId"], node["sourcePod"], node["rdbVersion"]) == (
        "0001",
        "mynonclusteredredis-001",
        rdb_version,
    )
    assert node["objectKey"].startswith(f"{namespace}/bkup-20150515/{uid}/")  # then the attempt that stored it
    assert node["objectKey"].endswith("/node-0001.rdb")
    assert status["totalBytes"] == int(node["cacheSize"])
    ready = condition(body, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "Available", 1)
    assert condition(body, "Progressing")["status"] == "False"
    assert "finalizers" in body["metadata"]
    assert body["metadata"]["finalizers"] == ["redisbackup.io/data"]
    assert not [key for key in body["metadata"].get("annotations", {}) if key.startswith("kopf.zalando.org")]
    assert "ownerReferences" not in body["metadata"]

    assert s3.keys(directory) == sorted([f"{directory}manifest.json", f"backups/{node['objectKey']}"])
    assert s3.uploads() == []
    rdb = fetch_object(s3, f"backups/{node['objectKey']}", tmp_path / "node-0001.rdb")
    assert_stored_rdb(rdb, node)
    with source.client() as redis:
        assert_restores(rdb, redis, redis_factory)
    manifest = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=f"{directory}manifest.json")["Body"].read())
    assert manifest["nodeSnapshots"][0]["sha256"] == node["sha256"]

    # Events are posted in the background: wait for the last one, then check the whole story.
    wait_until(lambda: len(scene.events("bkup-20150515")) >= 2, timeout=30, what="both Events")
    reasons = [reason for reason, _ in scene.events("bkup-20150515")]
    assert reasons == ["Creating", "Available"]
    metrics = operator.metrics()
    assert metrics['redisbackup_backups_total{result="available"}'] == 1
    assert metrics["redisbackup_backup_bytes_total"] == status["totalBytes"]
    assert metrics["redisbackup_backup_duration_seconds_count"] == 1
    assert metrics["redisbackup_backups_in_flight"] == 0
    snapshot = snapshot_document_from_body(body)["Snapshot"]
    assert (snapshot["SnapshotName"], snapshot["SnapshotStatus"], snapshot["CacheClusterId"]) == (
        "bkup-20150515",
        "available",
        "myNonClusteredRedis-001",
    )
    workload = client.CoreV1Api(scene.api).read_namespaced_pod("mynonclusteredredis-001", namespace)
    assert "redisbackup.io/snapshotting" not in (workload.metadata.annotations or {}), "the source is released"


def test_kubectl_get_rb_shows_the_printer_columns(start_scene: StartScene, redis_standalone: Topology) -> None:
    scene = start_scene()
    scene.statefulset(redis_standalone)
    scene.backup("daily", snapshotName="daily-1", cacheClusterId="cache")

    with redis_standalone.primary.client() as redis:
        engine, version = server_version(redis)
    table = scene.kubectl("get", "rb").stdout.splitlines()
    assert table[0].split() == ["NAME", "SNAPSHOT", "SOURCE", "ENGINE", "VERSION", "STATUS", "SIZE", "AGE"]
    row = table[1].split()
    assert row[:6] == ["daily", "daily-1", "cache", engine, version, "available"]
    assert row[7] in ("B", "KiB")  # e.g. "92 B" / "1.2 KiB": the size with its unit
    wide = scene.kubectl("get", "redisbackups", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "LOCATION"
    assert wide[1].split()[-1].startswith("file:///")


def test_a_single_pod_statefulset_is_read_through_its_pod_with_a_password_from_its_secret(
    start_scene: StartScene,
    redis_password: Topology,
    s3: S3Bucket,
    tmp_path: Path,
    redis_factory: RedisFactory,
) -> None:
    # S3 keys from files, as the chart mounts an existingSecret.
    scene = start_scene(storage=s3_storage(s3, credentials_dir=tmp_path / "s3-credentials"))
    source = redis_password.primary
    mirrored = scene.statefulset(redis_password, "sessions", keys=100)
    assert mirrored.auth_secret is not None

    body = scene.backup(
        "sessions-backup",
        snapshotName="sessions",
        cacheClusterId="sessions",
        auth={"secretRef": {"name": mirrored.auth_secret, "key": "password"}},
        tags={"team": "payments"},
    )

    (node,) = body["status"]["nodeSnapshots"]
    assert node["sourcePod"] == "sessions-0"
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "sessions.rdb")
    assert_stored_rdb(rdb, node)
    with source.client() as redis:
        assert_restores(rdb, redis, redis_factory)
    apps = client.AppsV1Api(scene.api)
    assert "redisbackup.io/snapshotting" not in (
        apps.read_namespaced_stateful_set("sessions", scene.namespace).metadata.annotations or {}
    )
