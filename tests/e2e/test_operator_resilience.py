"""The operator under stress: killed mid-snapshot, restarted, raced, made to wait for its source or its turn."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import redis
import yaml
from kubernetes import client

from devstack.fixtures.operator import file_storage, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import Topology
from devstack.wait import wait_until
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import (
    GROUP,
    PLURAL,
    VERSION,
    Scene,
    StartScene,
    assert_restores,
    assert_stored_rdb,
    condition,
    directory_of,
    fetch_object,
    manifest,
)

pytestmark = pytest.mark.e2e


def slow_source(factory: RedisFactory, *, megabytes: int, key_delay_us: int) -> Topology:
    """A node whose snapshots take a while: the fork sleeps `key_delay_us` per key while it writes the RDB."""
    topology = factory.standalone(extra={"rdb-key-save-delay": str(key_delay_us)})
    with topology.primary.client() as c:
        write_random(c, megabytes=megabytes)
    return topology


def statefulset_mark(scene: Scene, name: str) -> str | None:
    sts = client.AppsV1Api(scene.api).read_namespaced_stateful_set(name, scene.namespace)
    return (sts.metadata.annotations or {}).get("redisbackup.io/snapshotting")


def annotations_of(scene: Scene, pod: str) -> dict[str, str]:
    return client.CoreV1Api(scene.api).read_namespaced_pod(pod, scene.namespace).metadata.annotations or {}


@pytest.mark.smoke
def test_an_operator_killed_mid_snapshot_restarts_it_cleanly_and_leaves_no_orphan_objects(
    start_scene: StartScene, s3: S3Bucket, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    source = slow_source(redis_factory, megabytes=24, key_delay_us=2500)
    scene = start_scene(storage=s3_storage(s3))
    operator = scene.operator
    scene.pods(source)
    scene.apply("interrupted", snapshotName="interrupted", cacheClusterId="cache-001")

    # Part of the RDB is already in S3, as an unfinished multipart upload, when the operator dies.
    wait_until(s3.uploads, timeout=60, what="the first part of the RDB reaching S3")
    streaming = scene.wait_for(
        "interrupted",
        lambda body: (body["status"].get("progress") or {}).get("bytesDone", 0) > 0,
        what="reported its progress",
    )
    assert streaming["status"]["progress"]["bytesDone"] <= 24 << 20
    assert annotations_of(scene, "cache-001")["redisbackup.io/snapshotting"] == "interrupted"
    operator.kill()
    assert s3.uploads(), "the crash left an unfinished upload behind"
    assert scene.get("interrupted")["status"]["phase"] == "creating"  # type: ignore[index]

    operator.restart()
    body = scene.wait_phase("interrupted", "available", timeout=180)

    directory = directory_of(body)
    (node,) = body["status"]["nodeSnapshots"]
    assert s3.keys() == sorted([f"{directory}manifest.json", node["objectKey"]]), "nothing but the snapshot"
    assert s3.uploads() == [], "the interrupted upload was aborted"
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "interrupted.rdb")
    assert_stored_rdb(rdb, node)
    with source.primary.client() as c:
        assert_restores(rdb, c, redis_factory)
    assert "redisbackup.io/snapshotting" not in annotations_of(scene, "cache-001")


@pytest.mark.smoke
def test_two_backups_of_one_source_run_one_after_the_other_and_a_restart_retakes_neither(
    start_scene: StartScene, s3: S3Bucket, redis_factory: RedisFactory
) -> None:
    source = slow_source(redis_factory, megabytes=8, key_delay_us=2000)
    scene = start_scene(storage=s3_storage(s3))
    operator = scene.operator
    scene.statefulset(source)
    scene.apply("first", snapshotName="first", cacheClusterId="cache")
    wait_until(lambda: statefulset_mark(scene, "cache"), timeout=60, what="the StatefulSet marked")
    scene.apply("second", snapshotName="second", cacheClusterId="cache-0")  # same source, by its pod

    # ElastiCache shows the cluster as snapshotting; the second snapshot waits its turn.
    waiting = scene.wait_condition("second", "Progressing", reason="InvalidCacheClusterState")
    assert 'is being snapshotted by RedisBackup "first"' in condition(waiting, "Progressing")["message"]
    assert statefulset_mark(scene, "cache") == "first"
    assert scene.get("first")["status"]["phase"] == "creating"  # type: ignore[index]

    first = scene.wait_phase("first", "available", timeout=120)
    second = scene.wait_phase("second", "available", timeout=120)
    manifest_key = first["status"]["nodeSnapshots"][0]["objectKey"].rsplit("/", 2)[0] + "/manifest.json"
    stored = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=manifest_key)["Body"].read())
    first_done = dt.datetime.fromisoformat(stored["completeTime"].replace("Z", "+00:00"))
    second_started = dt.datetime.fromisoformat(second["status"]["snapshotCreateTime"].replace("Z", "+00:00"))
    assert second_started >= first_done, "the second snapshot started only after the first was stored"
    syncs = int(source.primary.info("stats")["sync_full"])
    assert syncs == 2

    # A restart finds both terminal: no daemon, no snapshot. A third backup shows the operator is working.
    operator.stop()
    operator.restart()
    scene.backup("third", cacheClusterId="cache", timeout=120)
    assert int(source.primary.info("stats")["sync_full"]) == syncs + 1, "only the new backup was snapshotted"
    assert operator.metrics()["redisbackup_snapshots_started_total"] == 1
    assert scene.get("first")["status"] == first["status"]  # type: ignore[index]


def test_of_two_racing_backups_with_one_snapshot_name_the_later_fails_and_the_earlier_is_untouched(
    start_scene: StartScene, redis_standalone: Topology
) -> None:
    # No webhook: both creates are admitted, as when they race past it; the reconciler settles it.
    scene = start_scene(webhook=False)
    scene.pods(redis_standalone)
    objects = client.CustomObjectsApi(scene.api)
    for name, snapshot in (("alpha", "Weekly"), ("beta", "weekly")):
        body = yaml.safe_load(manifest(name, snapshotName=snapshot, cacheClusterId="cache-001"))
        objects.create_namespaced_custom_object(GROUP, VERSION, scene.namespace, PLURAL, body)
    created = {name: scene.get(name) for name in ("alpha", "beta")}
    order = sorted(created, key=lambda n: (created[n]["metadata"]["creationTimestamp"], created[n]["metadata"]["uid"]))  # type: ignore[index]
    earlier, later = order

    assert scene.wait_phase(earlier, "available")
    failed = condition(scene.wait_phase(later, "failed"), "Failed")
    assert failed["reason"] == "SnapshotAlreadyExistsFault"
    assert f'is already used by RedisBackup "{earlier}"' in failed["message"]


def test_a_source_created_after_its_backup_is_waited_for_and_a_missing_one_fails_at_the_deadline(
    start_scene: StartScene, redis_standalone: Topology
) -> None:
    scene = start_scene(limits={"sourceMissingDeadlineSeconds": 20})
    scene.apply("early", snapshotName="early", cacheClusterId="cache-001")  # GitOps: backup first …
    scene.apply("never", snapshotName="never", cacheClusterId="nothing-here")
    waiting = scene.wait_condition("early", "Progressing", reason="CacheClusterNotFound")
    assert waiting["status"]["phase"] == "creating"
    scene.pods(redis_standalone)  # … the Redis a moment later
    scene.wait_phase("early", "available")

    failed = condition(scene.wait_phase("never", "failed", timeout=60), "Failed")
    assert failed["reason"] == "CacheClusterNotFound"
    assert "no Pod or StatefulSet named nothing-here" in failed["message"]
    assert "limits.sourceMissingDeadlineSeconds is 20" in failed["message"]


def test_acl_users_and_mutual_tls_are_taken_from_the_secrets_the_spec_names_and_their_snapshots_restore(
    start_scene: StartScene, redis_acl: Topology, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    snapshots = tmp_path / "snapshots"
    scene = start_scene(storage=file_storage(snapshots))
    mutual = redis_factory.standalone(tls=True, tls_client_auth=True)  # refuses a client without its certificate
    node = mutual.primary
    assert node.tls is not None
    with pytest.raises(redis.ConnectionError):  # so the backup below can only have come with the client certificate
        redis.Redis(host=node.host, port=node.port, ssl=True, ssl_ca_certs=str(node.tls.ca), password=None).ping()
    acl = scene.pods(redis_acl, "acl", keys=140)
    tls = scene.pods(mutual, "tls", keys=140)
    assert acl.auth_secret is not None
    assert tls.tls_secret is not None
    scene.apply(
        "acl",
        snapshotName="acl",
        cacheClusterId="acl-001",
        auth={"secretRef": {"name": acl.auth_secret, "key": "password"}, "username": redis_acl.primary.username},
    )
    scene.apply(
        "tls",
        snapshotName="tls",
        cacheClusterId="tls-001",
        tls={"caSecretRef": {"name": tls.tls_secret, "key": "ca.crt"}, "certSecretRef": {"name": tls.tls_secret}},
    )
    for name, source in (("acl", redis_acl), ("tls", mutual)):
        body = scene.wait_phase(name, "available")
        (stored,) = body["status"]["nodeSnapshots"]
        rdb = snapshots / stored["objectKey"]
        assert_stored_rdb(rdb, stored)
        with source.primary.client() as c:
            restored = assert_restores(rdb, c, redis_factory)  # every key, value and type, as the source has it
        assert len(restored) == 140

    scene.apply(
        "no-secret",
        snapshotName="no-secret",
        cacheClusterId="acl-001",
        auth={"secretRef": {"name": "absent", "key": "password"}},
    )
    waiting = scene.wait_condition("no-secret", "Progressing", reason="SecretNotFound")
    assert 'spec.auth.secretRef: Secret "absent" does not exist' in condition(waiting, "Progressing")["message"]


def test_a_snapshotting_mark_left_behind_by_a_backup_that_is_gone_does_not_block_the_source(
    start_scene: StartScene, redis_standalone: Topology
) -> None:
    scene = start_scene()
    scene.pods(redis_standalone)
    # What an operator killed mid-snapshot leaves when its RedisBackup is deleted while it is down.
    scene.kubectl(
        "annotate",
        "pod",
        "cache-001",
        "redisbackup.io/snapshotting=deleted-meanwhile",
        "redisbackup.io/snapshotting-uid=0d7a1e7e-0000-4000-8000-000000000000",
    )
    scene.backup("next", cacheClusterId="cache-001")
    left = annotations_of(scene, "cache-001")
    assert "redisbackup.io/snapshotting" not in left
    assert "redisbackup.io/snapshotting-uid" not in left
