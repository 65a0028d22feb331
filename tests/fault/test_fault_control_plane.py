"""The Kubernetes side failing under a running snapshot: the source workload deleted, the whole namespace deleted,
the apiserver restarted. Backups never depend on their source once stored, a deleted namespace takes its backups'
data with it (deletionPolicy Delete) and lets the namespace go, and a status written across an apiserver restart
still lands."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.wait import wait_until
from tests.e2e.operator_support import wait_for, wait_phase
from tests.fault.audit import audit
from tests.fault.support import assert_clean, create, fill, slow_source, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e


def progressing(body: dict) -> bool:  # type: ignore[type-arg]
    return ((body.get("status") or {}).get("progress") or {}).get("bytesDone", 0) > 0


def test_the_source_workload_deleted_and_its_redis_gone_mid_backup_fails_typed_and_stores_nothing(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=8, key_delay_us=2000)
    mirror.statefulset(source, namespace, "cache")
    operator = start_operator(
        namespaces=[namespace],
        storage=s3_storage(s3),
        limits={"sourceMissingDeadlineSeconds": 15, "snapshotAttempts": 3, "connectTimeoutSeconds": 2},
    )
    create(kube_api, namespace, "orphaned", cacheClusterId="cache")
    wait_for(kube_api, namespace, "orphaned", progressing, what="streamed", operator=operator)
    kube.kubectl("delete", "statefulset", "cache", "-n", namespace, "--cascade=foreground", "--wait=false")
    kube.kubectl("delete", "pod", "cache-0", "-n", namespace, "--wait=false", "--ignore-not-found")
    source.primary.kill()  # the pod is gone, and so is its redis-server
    wait_settled(kube_api, namespace, ["orphaned"], timeout=120, operator=operator)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("source workload deleted mid-backup")), result, runs=1)
    assert_clean(row, result)
    # It failed (nothing to have snapshotted: the Redis was gone mid-stream), for one of the reasons that say so.
    assert (row.failed_typed, row.available_ok) == (1, 0), result.summary()
    (reason,) = result.reasons
    assert reason in {"CacheClusterNotFound", "RedisUnreachable", "ConnectionLost"}


def test_a_namespace_deleted_mid_backup_goes_away_with_its_backups_and_their_objects(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    namespace = kube.create_namespace("doomed")
    source = slow_source(redis_factory, megabytes=8, key_delay_us=2000)
    mirror.statefulset(source, namespace, "cache")
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    create(kube_api, namespace, "streaming", cacheClusterId="cache")
    wait_for(kube_api, namespace, "streaming", progressing, what="streamed", operator=operator)
    kube.delete_namespace(namespace)

    def namespace_gone() -> bool:
        try:
            client.CoreV1Api(kube_api).read_namespace(namespace)
        except client.ApiException as error:
            return error.status == 404
        return False

    wait_until(namespace_gone, timeout=120, interval=0.5, what=f"namespace {namespace} deleted")
    result = audit(kube_api, s3, [])
    row = fill(record(Row("namespace deleted mid-backup")), result, runs=1)
    row.notes = "the RedisBackup and its data went with the namespace"
    assert_clean(row, result)
    assert s3.keys() == [], "nothing of the deleted namespace's snapshot is left"
    assert operator.process.alive()


@pytest.mark.smoke
def test_an_apiserver_restarted_mid_backup_gets_the_status_written_and_new_backups_still_seen(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    if kube.plane is None:
        pytest.skip("an external cluster: its apiserver is not ours to restart")
    source = slow_source(redis_factory, megabytes=6, key_delay_us=2000)
    mirror.pods(source, namespace, "cache")
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    create(kube_api, namespace, "across", cacheClusterId="cache-001")
    wait_for(kube_api, namespace, "across", progressing, what="streamed", operator=operator)
    began = time.monotonic()
    kube.plane.restart_apiserver(down_seconds=3)
    outage = time.monotonic() - began
    wait_phase(kube_api, namespace, "across", "available", timeout=180, operator=operator)
    create(kube_api, namespace, "after", cacheClusterId="cache-001")  # the watch is back: a new one is seen
    wait_settled(kube_api, namespace, ["after"], timeout=180, operator=operator)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("apiserver restarted mid-backup")), result, runs=2)
    row.notes = f"apiserver down {outage:.0f}s"
    assert_clean(row, result)
    assert row.available_ok == 2
    assert operator.process.alive()
