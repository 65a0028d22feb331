"""Every manifest of manifests/samples/ applied as the README and the samples' comments say, on the real node: the
Redis workloads and the three backup samples (also the smoke test's), and the two restore samples end to end —
the init container restores a snapshot into a new StatefulSet and the keys are there; the cluster sample's init
containers preload the shards and its Job assembles the cluster.

The restore samples are applied as they are, but for what their comments tell a user to adapt: the ConfigMap is
"the operator's storage location `archive`, as in its Helm values", so it gets the endpoint of the S3 server the
operator here uses (AWS needs none), and the Secret `redisbackup-s3` the user creates with the keys."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from kubernetes import client

from devstack.fixtures.node import RealStack
from devstack.fixtures.s3 import S3Bucket
from tests.e2e.node.support import (
    SAMPLES,
    apply_workloads,
    cluster_client,
    install,
    merge,
    pod_client,
    release_backups,
    restarts,
    s3_secret,
    s3_values,
)
from tests.e2e.operator_support import apply, wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.slow]

RESTORE = SAMPLES / "restore"
SAMPLE_BUCKET, SAMPLE_PREFIX = "redis-snapshots", "prod"  # what the samples' ConfigMap names


def every_sample() -> list[Path]:
    return sorted(SAMPLES.rglob("*.yaml"))


def test_every_sample_is_covered_here_or_in_the_smoke_test() -> None:
    covered = {
        "backup-single-node.yaml",
        "backup-replica-node.yaml",
        "backup-cluster.yaml",
        "node.yaml",
        "cluster.yaml",
        "schedule-every-minute.yaml",
    }
    covered |= {"mynonclusteredredis.yaml", "myreplicatedredis.yaml", "myclusteredredis.yaml"}
    assert {path.name for path in every_sample()} == covered, "a new sample needs a test on the node"


def adapted(path: Path, endpoint: str) -> str:
    """The sample as a user adapts it: the storage ConfigMap points at this S3 server; nothing else changes."""
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for document in documents:
        if document["kind"] == "ConfigMap" and document["metadata"]["name"] == "redisbackup-storage":
            config = yaml.safe_load(document["data"]["config.yaml"])
            location = config["storage"]["locations"]["archive"]["s3"]
            assert (location["bucket"], location["prefix"]) == (SAMPLE_BUCKET, SAMPLE_PREFIX)
            location.update(endpoint=endpoint, addressingStyle="path")
            document["data"]["config.yaml"] = yaml.safe_dump(config, sort_keys=False)
    return yaml.safe_dump_all(documents, sort_keys=False)


@pytest.fixture
def sample_bucket(real_cluster: RealStack) -> Any:
    """The bucket the samples name, in the node's S3 (created for the test, deleted afterwards)."""
    real_cluster.s3.create_bucket(SAMPLE_BUCKET)
    yield S3Bucket(real_cluster.s3, SAMPLE_BUCKET)
    real_cluster.s3.delete_bucket(SAMPLE_BUCKET)


def keys_of(client_: redis.Redis | redis.cluster.RedisCluster) -> dict[bytes, bytes]:
    """Every key with its value's DUMP (the same Redis version on both sides, so equal dumps are equal data)."""
    return {key: client_.dump(key) for key in client_.scan_iter(count=1000)}  # type: ignore[misc]


def test_the_restore_samples_restore_a_node_and_a_cluster_from_snapshots(
    real_cluster: RealStack,
    real_api: client.ApiClient,
    node_namespace: str,
    sample_bucket: S3Bucket,
    tmp_path: Path,
) -> None:
    kube, namespace = real_cluster.kube, node_namespace
    secret = s3_secret(kube, namespace, sample_bucket, name="redisbackup-s3")
    values = merge(
        s3_values(sample_bucket, secret, prefix=SAMPLE_PREFIX),
        {"storage": {"locations": {"archive": {"s3": {"region": "eu-west-1"}}}}},
    )
    release = install(real_cluster, namespace, tmp_path, values)
    try:
        # 1. the baselines: a node and a 3-shard cluster with data, backed up under the samples' snapshot names
        apply_workloads(kube, namespace, "mynonclusteredredis", "myclusteredredis")
        with pod_client(kube, namespace, "mynonclusteredredis-0") as source:
            source.mset({f"baseline:{i}": f"value-{i}".encode() * (i % 50 + 1) for i in range(2000)})
            source.hset("baseline:hash", mapping={f"f{i}": i for i in range(300)})
            node_keys = keys_of(source)
        with cluster_client(kube, namespace, "myclusteredredis") as cluster:
            for i in range(3000):
                cluster.set(f"shop:{i}", f"item-{i}")
            cluster_keys = keys_of(cluster)
        apply(kube, namespace, "baseline", snapshotName="baseline", cacheClusterId="myNonClusteredRedis")
        apply(kube, namespace, "shop-baseline", snapshotName="shop-baseline", replicationGroupId="myClusteredRedis")
        wait_phase(real_api, namespace, "baseline", "available", timeout=180)
        wait_phase(real_api, namespace, "shop-baseline", "available", timeout=180)

        # 2. restore/node.yaml: a brand-new StatefulSet whose init container restores "baseline"
        endpoint = sample_bucket.endpoint_url
        kube.kubectl("apply", "-n", namespace, "-f", "-", input=adapted(RESTORE / "node.yaml", endpoint))
        kube.rollout(namespace, "statefulset/redis-baseline", timeout=180)
        with pod_client(kube, namespace, "redis-baseline-0") as restored:
            assert keys_of(restored) == node_keys

        # 3. restore/cluster.yaml: six Pods, shards preloaded by init containers, the Job joins them
        kube.kubectl("apply", "-n", namespace, "-f", "-", input=adapted(RESTORE / "cluster.yaml", endpoint))
        kube.rollout(namespace, "statefulset/shop-restored", "job/shop-restored-join", timeout=300)
        with pod_client(kube, namespace, "shop-restored-0") as first:
            info = first.execute_command("CLUSTER", "INFO").decode()
            assert "cluster_state:ok" in info
            assert "cluster_known_nodes:6" in info
        with cluster_client(kube, namespace, "shop-restored") as restored_cluster:
            assert keys_of(restored_cluster) == cluster_keys
        assert release.restarts() == 0, release.log()
        crashed = {
            pod: n for pod, n in restarts(kube, namespace).items() if n and not pod.startswith("shop-restored-join")
        }
        assert not crashed, "a restore restarted a container"
    finally:
        release.uninstall()
        release_backups(kube, namespace)


def test_the_schedule_sample_takes_automated_backups_of_the_node(
    real_cluster: RealStack, real_api: client.ApiClient, node_namespace: str, tmp_path: Path
) -> None:
    """manifests/samples/schedule-every-minute.yaml as its comment says, with the chart's default values (but the
    image): each minute an automated RedisBackup of the node, owned by the schedule, reaches available with the
    node's data in its snapshot; deleting the schedule deletes them (retention is the control plane's tests' part)."""
    kube = real_cluster.kube
    apply_workloads(kube, node_namespace, "mynonclusteredredis")
    with pod_client(kube, node_namespace, "mynonclusteredredis-0") as source:
        source.mset({f"order:{i}": f"value-{i}" for i in range(300)})
    release = install(real_cluster, node_namespace, tmp_path, test_limits=False)
    custom = client.CustomObjectsApi(real_api)

    def automated() -> list[dict[str, Any]]:
        items = custom.list_namespaced_custom_object("redisbackup.io", "v1alpha1", node_namespace, "redisbackups")
        return [
            item for item in items["items"]
            if any(o.get("kind") == "RedisBackupSchedule" for o in item["metadata"].get("ownerReferences", []))
        ]  # fmt: skip

    try:
        kube.kubectl("apply", "-n", node_namespace, "-f", str(SAMPLES / "schedule-every-minute.yaml"))
        available: list[dict[str, Any]] = []
        for _ in range(400):  # three runs (a minute apart) and their backups
            available = [b for b in automated() if (b.get("status") or {}).get("phase") == "available"]
            if len(available) >= 2 and len(automated()) <= 3:
                break
            time.sleep(1)
        assert len(available) >= 2, automated()
        for backup in available:
            (snapshot,) = backup["status"]["nodeSnapshots"]
            assert backup["spec"]["cacheClusterId"] == "myNonClusteredRedis"
            assert int(snapshot["cacheSize"]) > 0
        assert release.restarts() == 0, release.log()
        kube.kubectl("delete", "-n", node_namespace, "-f", str(SAMPLES / "schedule-every-minute.yaml"))
        for _ in range(120):
            if not automated():
                break
            time.sleep(1)
        assert automated() == [], "deleting the schedule deletes its backups"
    finally:
        release.uninstall()
        release_backups(kube, node_namespace)
