"""The operator under stress: killed mid-snapshot, restarted, raced, made to wait for its source or its turn."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, file_storage, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from devstack.wait import wait_until
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import (
    GROUP,
    PLURAL,
    VERSION,
    apply,
    assert_restores,
    assert_stored_rdb,
    condition,
    fetch_object,
    get,
    manifest,
    wait_for,
    wait_phase,
)

pytestmark = pytest.mark.e2e


def slow_source(factory: RedisFactory, *, megabytes: int, key_delay_us: int) -> Topology:
    """A node whose snapshots take a while: the fork sleeps `key_delay_us` per key while it writes the RDB."""
    topology = factory.standalone(extra={"rdb-key-save-delay": str(key_delay_us)})
    with topology.primary.client() as c:
        write_random(c, megabytes=megabytes)
    return topology


def reason_of(body: dict[str, Any], kind: str) -> str | None:
    found = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    return found[0]["reason"] if found else None


def statefulset_mark(kube_api: client.ApiClient, namespace: str, name: str) -> str | None:
    sts = client.AppsV1Api(kube_api).read_namespaced_stateful_set(name, namespace)
    return (sts.metadata.annotations or {}).get("redisbackup.io/snapshotting")


def annotations_of(kube_api: client.ApiClient, namespace: str, pod: str) -> dict[str, str]:
    return client.CoreV1Api(kube_api).read_namespaced_pod(pod, namespace).metadata.annotations or {}


@pytest.mark.smoke
def test_an_operator_killed_mid_snapshot_restarts_it_cleanly_and_leaves_no_orphan_objects(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    source = slow_source(redis_factory, megabytes=24, key_delay_us=2500)
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    mirror.pods(source, namespace, "cache")
    apply(kube, namespace, "interrupted", snapshotName="interrupted", cacheClusterId="cache-001")

    # Part of the RDB is already in S3, as an unfinished multipart upload, when the operator dies.
    wait_until(s3.uploads, timeout=60, what="the first part of the RDB reaching S3")
    streaming = wait_for(
        kube_api,
        namespace,
        "interrupted",
        lambda body: (body["status"].get("progress") or {}).get("bytesDone", 0) > 0,
        what="reported its progress",
        operator=operator,
    )
    assert streaming["status"]["progress"]["bytesDone"] <= 24 << 20
    assert annotations_of(kube_api, namespace, "cache-001")["redisbackup.io/snapshotting"] == "interrupted"
    operator.kill()
    assert s3.uploads(), "the crash left an unfinished upload behind"
    assert get(kube_api, namespace, "interrupted")["status"]["phase"] == "creating"  # type: ignore[index]

    operator.restart()
    body = wait_phase(kube_api, namespace, "interrupted", "available", timeout=180, operator=operator)

    uid = body["metadata"]["uid"]
    directory = f"{namespace}/interrupted/{uid}/"
    (node,) = body["status"]["nodeSnapshots"]
    assert s3.keys() == sorted([f"{directory}manifest.json", node["objectKey"]]), "nothing but the snapshot"
    assert s3.uploads() == [], "the interrupted upload was aborted"
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "interrupted.rdb")
    assert_stored_rdb(rdb, node)
    with source.primary.client() as c:
        assert_restores(rdb, c, redis_factory)
    assert "redisbackup.io/snapshotting" not in annotations_of(kube_api, namespace, "cache-001")


@pytest.mark.smoke
def test_two_backups_of_one_source_run_one_after_the_other_and_a_restart_retakes_neither(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=8, key_delay_us=2000)
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    mirror.statefulset(source, namespace, "cache")
    apply(kube, namespace, "first", snapshotName="first", cacheClusterId="cache")
    wait_until(lambda: statefulset_mark(kube_api, namespace, "cache"), timeout=60, what="the StatefulSet marked")
    apply(kube, namespace, "second", snapshotName="second", cacheClusterId="cache-0")  # same source, by its pod

    # ElastiCache shows the cluster as snapshotting; the second snapshot waits its turn.
    waiting = wait_for(
        kube_api,
        namespace,
        "second",
        lambda body: reason_of(body, "Progressing") == "InvalidCacheClusterState",
        what="waited for the first snapshot",
        operator=operator,
    )
    assert 'is being snapshotted by RedisBackup "first"' in condition(waiting, "Progressing")["message"]
    assert statefulset_mark(kube_api, namespace, "cache") == "first"
    assert get(kube_api, namespace, "first")["status"]["phase"] == "creating"  # type: ignore[index]

    first = wait_phase(kube_api, namespace, "first", "available", timeout=120, operator=operator)
    second = wait_phase(kube_api, namespace, "second", "available", timeout=120, operator=operator)
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
    apply(kube, namespace, "third", snapshotName="third", cacheClusterId="cache")
    wait_phase(kube_api, namespace, "third", "available", timeout=120, operator=operator)
    assert int(source.primary.info("stats")["sync_full"]) == syncs + 1, "only the new backup was snapshotted"
    assert operator.metrics()["redisbackup_snapshots_started_total"] == 1
    assert get(kube_api, namespace, "first")["status"] == first["status"]  # type: ignore[index]


def test_of_two_racing_backups_with_one_snapshot_name_the_later_fails_and_the_earlier_is_untouched(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
) -> None:
    # No webhook: both creates are admitted, as when they race past it; the reconciler settles it.
    operator = start_operator(namespaces=[namespace], webhook=False)
    mirror.pods(redis_standalone, namespace, "cache")
    objects = client.CustomObjectsApi(kube_api)
    for name, snapshot in (("alpha", "Weekly"), ("beta", "weekly")):
        body = yaml.safe_load(manifest(name, snapshotName=snapshot, cacheClusterId="cache-001"))
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    created = {name: get(kube_api, namespace, name) for name in ("alpha", "beta")}
    order = sorted(created, key=lambda n: (created[n]["metadata"]["creationTimestamp"], created[n]["metadata"]["uid"]))  # type: ignore[index]
    earlier, later = order

    assert wait_phase(kube_api, namespace, earlier, "available", operator=operator)
    failed = condition(wait_phase(kube_api, namespace, later, "failed", operator=operator), "Failed")
    assert failed["reason"] == "SnapshotAlreadyExistsFault"
    assert f'is already used by RedisBackup "{earlier}"' in failed["message"]


def test_a_source_created_after_its_backup_is_waited_for_and_a_missing_one_fails_at_the_deadline(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
) -> None:
    operator = start_operator(namespaces=[namespace], limits={"sourceMissingDeadlineSeconds": 20})
    apply(kube, namespace, "early", snapshotName="early", cacheClusterId="cache-001")  # GitOps: backup first …
    apply(kube, namespace, "never", snapshotName="never", cacheClusterId="nothing-here")
    waiting = wait_for(
        kube_api,
        namespace,
        "early",
        lambda body: reason_of(body, "Progressing") == "CacheClusterNotFound",
        what="waited for its source",
        operator=operator,
    )
    assert waiting["status"]["phase"] == "creating"
    mirror.pods(redis_standalone, namespace, "cache")  # … the Redis a moment later
    wait_phase(kube_api, namespace, "early", "available", operator=operator)

    failed = condition(wait_phase(kube_api, namespace, "never", "failed", timeout=60, operator=operator), "Failed")
    assert failed["reason"] == "CacheClusterNotFound"
    assert "no Pod or StatefulSet named nothing-here" in failed["message"]
    assert "limits.sourceMissingDeadlineSeconds is 20" in failed["message"]


def test_acl_users_and_mutual_tls_are_taken_from_the_secrets_the_spec_names_and_their_snapshots_restore(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_acl: Topology,
    redis_factory: RedisFactory,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    snapshots = tmp_path / "snapshots"
    operator = start_operator(namespaces=[namespace], storage=file_storage(snapshots))
    mutual = redis_factory.standalone(tls=True, tls_client_auth=True)  # refuses a client without its certificate
    node = mutual.primary
    assert node.tls is not None
    with pytest.raises(redis.ConnectionError):  # so the backup below can only have come with the client certificate
        redis.Redis(host=node.host, port=node.port, ssl=True, ssl_ca_certs=str(node.tls.ca), password=None).ping()
    for source in (redis_acl, mutual):
        with source.primary.client() as c:
            redis_nodes.fill_mixed(c, count=140)
    acl = mirror.pods(redis_acl, namespace, "acl")
    tls = mirror.pods(mutual, namespace, "tls")
    assert acl.auth_secret is not None
    assert tls.tls_secret is not None
    apply(
        kube,
        namespace,
        "acl",
        snapshotName="acl",
        cacheClusterId="acl-001",
        auth={"secretRef": {"name": acl.auth_secret, "key": "password"}, "username": redis_acl.primary.username},
    )
    apply(
        kube,
        namespace,
        "tls",
        snapshotName="tls",
        cacheClusterId="tls-001",
        tls={"caSecretRef": {"name": tls.tls_secret, "key": "ca.crt"}, "certSecretRef": {"name": tls.tls_secret}},
    )
    for name, source in (("acl", redis_acl), ("tls", mutual)):
        body = wait_phase(kube_api, namespace, name, "available", operator=operator)
        (stored,) = body["status"]["nodeSnapshots"]
        rdb = snapshots / stored["objectKey"]
        assert_stored_rdb(rdb, stored)
        with source.primary.client() as c:
            restored = assert_restores(rdb, c, redis_factory)  # every key, value and type, as the source has it
        assert len(restored) == 140

    apply(
        kube,
        namespace,
        "no-secret",
        snapshotName="no-secret",
        cacheClusterId="acl-001",
        auth={"secretRef": {"name": "absent", "key": "password"}},
    )
    waiting = wait_for(
        kube_api,
        namespace,
        "no-secret",
        lambda body: reason_of(body, "Progressing") == "SecretNotFound",
        what="waited for its Secret",
        operator=operator,
    )
    assert 'spec.auth.secretRef: Secret "absent" does not exist' in condition(waiting, "Progressing")["message"]


def test_a_snapshotting_mark_left_behind_by_a_backup_that_is_gone_does_not_block_the_source(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
) -> None:
    operator = start_operator(namespaces=[namespace])
    mirror.pods(redis_standalone, namespace, "cache")
    # What an operator killed mid-snapshot leaves when its RedisBackup is deleted while it is down.
    kube.kubectl(
        "annotate",
        "pod",
        "cache-001",
        "-n",
        namespace,
        "redisbackup.io/snapshotting=deleted-meanwhile",
        "redisbackup.io/snapshotting-uid=0d7a1e7e-0000-4000-8000-000000000000",
    )
    apply(kube, namespace, "next", snapshotName="next", cacheClusterId="cache-001")
    wait_phase(kube_api, namespace, "next", "available", operator=operator)
    left = annotations_of(kube_api, namespace, "cache-001")
    assert "redisbackup.io/snapshotting" not in left
    assert "redisbackup.io/snapshotting-uid" not in left
