"""Final snapshots (ElastiCache's --final-snapshot-identifier) on the real control plane and garbage collector: a
deleted StatefulSet is snapshotted before it goes, and a workload whose snapshot cannot be taken is released
anyway, with an Event and the result annotation saying why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import apply, assert_restores, assert_stored_rdb, fetch_object, wait_phase
from tests.e2e.schedule_support import wait_until

pytestmark = pytest.mark.e2e

FINALIZER = "redisbackup.io/final-snapshot"
RESULT = "redisbackup.io/final-snapshot-result"


def events_about(api: client.ApiClient, namespace: str, kind: str, name: str) -> list[tuple[str, str]]:
    listing = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind={kind}"
    )
    return [(event.reason, event.message) for event in listing.items]


def finalizers(read: Any, name: str, namespace: str) -> list[str] | None:
    try:
        return list(read(name, namespace).metadata.finalizers or [])
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def test_a_deleted_statefulset_is_snapshotted_before_it_goes_and_its_final_snapshot_restores_every_key(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_password: Topology,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    source = redis_password.primary
    with source.client() as redis:
        redis_nodes.fill_mixed(redis, count=300)
    mirrored = mirror.statefulset(redis_password, namespace, "sessions")
    apps = client.AppsV1Api(kube_api)
    spec = {"auth": {"secretRef": {"name": mirrored.auth_secret, "key": "password"}}, "tags": {"why": "final"}}
    kube.kubectl(
        "annotate", "statefulset", "sessions", "-n", namespace,
        "redisbackup.io/final-snapshot=sessions-final", f"redisbackup.io/final-snapshot-spec={json.dumps(spec)}",
    )  # fmt: skip
    wait_until(
        lambda: finalizers(apps.read_namespaced_stateful_set, "sessions", namespace) == [FINALIZER],
        what="put its finalizer on the StatefulSet",
        operator=operator,
    )

    kube.kubectl("delete", "statefulset", "sessions", "-n", namespace, "--wait=false")
    wait_until(
        lambda: finalizers(apps.read_namespaced_stateful_set, "sessions", namespace) is None,
        what="let the StatefulSet go",
        operator=operator,
    )
    body = wait_phase(kube_api, namespace, "sessions-final", "available", operator=operator)
    assert body["status"]["snapshotSource"] == "manual", "a final snapshot is a manual one: kept until deleted"
    assert "ownerReferences" not in body["metadata"]
    assert body["metadata"]["annotations"]["redisbackup.io/final-snapshot-of"].startswith("StatefulSet/sessions/")
    assert body["spec"]["cacheClusterId"] == "sessions"
    (node,) = body["status"]["nodeSnapshots"]
    assert node["sourcePod"] == "sessions-0"
    taken = wait_until(
        lambda: [
            m for r, m in events_about(kube_api, namespace, "StatefulSet", "sessions") if r == "FinalSnapshotTaken"
        ],
        what="said so on the StatefulSet",
    )
    assert "sessions-final" in taken[0]
    # The garbage collector takes the Pods once their StatefulSet is gone; the snapshot has their data.
    core = client.CoreV1Api(kube_api)
    wait_until(lambda: not core.list_namespaced_pod(namespace).items, what="garbage-collect the Pods", timeout=60)
    assert node["objectKey"].startswith(f"{namespace}/sessions-final/{body['metadata']['uid']}/")  # then the attempt
    rdb = fetch_object(s3, node["objectKey"], tmp_path / "final.rdb")
    assert_stored_rdb(rdb, node)
    with source.client() as redis:
        assert_restores(rdb, redis, redis_factory)


def test_a_workload_whose_final_snapshot_cannot_be_taken_is_released_anyway_and_says_why(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
) -> None:
    operator = start_operator(namespaces=[namespace], config={"finalSnapshots": {"deadlineSeconds": 8}})
    core = client.CoreV1Api(kube_api)
    node = redis_standalone.primary
    for pod in ("taken", "unreachable", "changed-mind"):
        mirror.pod(node, namespace, pod)
    apply(kube, namespace, "existing", snapshotName="taken-final", cacheClusterId="taken")
    wait_phase(kube_api, namespace, "existing", "available", operator=operator)
    annotations = {
        "taken": ["redisbackup.io/final-snapshot=taken-final"],
        # Nothing listens on port 1: the snapshot waits for Redis until the deadline.
        "unreachable": [
            "redisbackup.io/final-snapshot=unreachable-final",
            'redisbackup.io/final-snapshot-spec={"port": 1}',
        ],
        "changed-mind": ["redisbackup.io/final-snapshot=changed-mind"],
    }
    for pod, values in annotations.items():
        kube.kubectl("annotate", "pod", pod, "-n", namespace, *values)
        wait_until(
            lambda p=pod: finalizers(core.read_namespaced_pod, p, namespace) == [FINALIZER],  # type: ignore[misc]
            what=f"put its finalizer on {pod}",
            operator=operator,
        )
    # Taking the annotation away gives the workload back.
    kube.kubectl("annotate", "pod", "changed-mind", "-n", namespace, "redisbackup.io/final-snapshot-")
    wait_until(lambda: finalizers(core.read_namespaced_pod, "changed-mind", namespace) == [], what="drop it")

    kube.kubectl("delete", "pod", "taken", "unreachable", "-n", namespace, "--wait=false")
    for pod in ("taken", "unreachable"):
        wait_until(
            lambda p=pod: finalizers(core.read_namespaced_pod, p, namespace) is None,  # type: ignore[misc]
            what=f"release {pod}",
            timeout=60,
            operator=operator,
        )
    refused = wait_until(
        lambda: [m for r, m in events_about(kube_api, namespace, "Pod", "taken") if r == "FinalSnapshotFailed"],
        what="say why on Pod taken",
    )
    assert 'spec.snapshotName "taken-final" is already used by RedisBackup "existing"' in refused[0], refused
    timed_out = wait_until(
        lambda: [m for r, m in events_about(kube_api, namespace, "Pod", "unreachable") if r == "FinalSnapshotFailed"],
        what="say why on Pod unreachable",
    )
    assert "not available 8s after" in timed_out[0]
    # The existing backup of that name was left alone; the unreachable one's RedisBackup stays to say what happened.
    existing = wait_phase(kube_api, namespace, "existing", "available")
    assert "redisbackup.io/final-snapshot-of" not in (existing["metadata"].get("annotations") or {})
    unreachable = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        "redisbackup.io", "v1alpha1", namespace, "redisbackups", "unreachable-final"
    )
    assert unreachable["status"]["phase"] == "creating"  # type: ignore[index]
