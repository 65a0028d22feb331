"""What operating the chart does to backups, on the real node, with the chart's own limits acting: `spec.verify` on a
backup larger than the operator's /tmp, a 3-shard cluster under the default memory limit, the operator's Pod
deleted mid-backup, `helm upgrade` while backups are being admitted, and `helm uninstall`. Each checks outcomes:
objects in S3 and their manifest, status and conditions, no container restarted or evicted but on purpose."""

from __future__ import annotations

import json
import os
import threading
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
    WORKLOADS,
    Release,
    cluster_client,
    install,
    pod_client,
    release_backups,
    restarts,
    s3_secret,
    s3_values,
    wait_until,
)
from tests.e2e.operator_support import apply, assert_stored_rdb, condition, fetch_object, wait_for, wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.slow]

MiB = 1 << 20


def workload(kube: Any, namespace: str, name: str, *, memory: str) -> None:
    """A sample workload with more memory for its Redis (the samples allow 256Mi), applied and rolled out."""
    documents = [d for d in yaml.safe_load_all((WORKLOADS / f"{name}.yaml").read_text()) if d]
    for document in documents:
        if document["kind"] == "StatefulSet":
            (container,) = document["spec"]["template"]["spec"]["containers"]
            container["resources"]["limits"]["memory"] = memory
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))
    waits = [f"statefulset/{name}", *(["job/myclusteredredis-create"] if name == "myclusteredredis" else [])]
    kube.rollout(namespace, *waits, timeout=300)


def fill_random(target: redis.Redis | redis.cluster.RedisCluster, megabytes: int, prefix: str = "big") -> None:
    """`megabytes` of incompressible values (an RDB about that large), 1 MiB per key."""
    for start in range(0, megabytes, 16):
        pipe = target.pipeline(transaction=False)
        for i in range(start, min(start + 16, megabytes)):
            pipe.set(f"{prefix}:{i}", os.urandom(MiB))
        pipe.execute()


@pytest.fixture
def s3_release(real_cluster: RealStack, node_namespace: str, node_bucket: S3Bucket, tmp_path: Path) -> Any:
    """The chart (default values, but the image, test retry limits and an S3 location in the node's S3)."""
    secret = s3_secret(real_cluster.kube, node_namespace, node_bucket)
    release = install(real_cluster, node_namespace, tmp_path, s3_values(node_bucket, secret))
    yield release
    release.uninstall()
    release_backups(real_cluster.kube, node_namespace)


def evicted(kube: Any, namespace: str) -> list[str]:
    pods = json.loads(kube.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    return [p["metadata"]["name"] for p in pods if p["status"].get("reason") == "Evicted"]


def stored_keys(bucket: S3Bucket, body: dict[str, Any]) -> list[str]:
    """Every object under the snapshot's `<uid>/` (each attempt stores its RDBs under `<uid>/<attempt>/`, the
    manifest lands beside them), relative to it."""
    prefix = body["status"]["nodeSnapshots"][0]["objectKey"].rsplit("/", 2)[0] + "/"
    return sorted(key.removeprefix(prefix) for key in bucket.keys(prefix))


def test_verify_checks_a_backup_larger_than_the_operators_tmp(
    real_cluster: RealStack,
    real_api: client.ApiClient,
    node_namespace: str,
    node_bucket: S3Bucket,
    s3_release: Release,
) -> None:
    """The chart's /tmp is an emptyDir of 64Mi: a verification that downloaded the RDB there got the operator
    evicted (once the kubelet measured the volume), and verified again after the restart — an eviction loop any
    namespace user could start. The RDB now streams through: /tmp never holds it."""
    kube = real_cluster.kube
    workload(kube, node_namespace, "mynonclusteredredis", memory="512Mi")
    with pod_client(kube, node_namespace, "mynonclusteredredis-0") as source:
        fill_random(source, 96)
    pod = s3_release.pod()
    tmp = real_cluster.node.directory / "kubelet" / "pods" / pod["metadata"]["uid"] / "volumes"
    tmp = tmp / "kubernetes.io~empty-dir" / "tmp"
    assert tmp.is_dir(), "the operator's /tmp emptyDir, seen from the host"
    peak = 0
    watching = threading.Event()

    def watch() -> None:  # what the kubelet's disk accounting would see, sampled often
        nonlocal peak
        while not watching.is_set():
            used = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file() and not f.is_symlink())
            peak = max(peak, used)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        apply(kube, node_namespace, "big", snapshotName="big", cacheClusterId="myNonClusteredRedis", verify=True)
        body = wait_for(
            real_api,
            node_namespace,
            "big",
            lambda b: any(c["type"] == "Verified" for c in (b.get("status") or {}).get("conditions") or []),
            what="verified",
            timeout=300,
        )
    finally:
        watching.set()
        watcher.join()
    assert condition(body, "Verified")["status"] == "True", json.dumps(body["status"], indent=2)
    assert int(body["status"]["nodeSnapshots"][0]["cacheSize"]) > 96 * MiB
    assert body["status"]["verification"]["result"] == "Passed"
    assert body["status"]["verification"]["keys"] == 96
    assert peak < 8 * MiB, f"/tmp held {peak / MiB:.0f} MiB during the verification (its sizeLimit is 64Mi)"
    assert s3_release.pod()["metadata"]["name"] == pod["metadata"]["name"], "the operator's Pod was replaced"
    assert s3_release.restarts() == 0, s3_release.log()
    assert evicted(kube, s3_release.namespace) == []
    # tini, PID 1 of the operator's container, reaped the throwaway verification server: no zombie remains
    (operator,) = s3_release.processes()
    assert [task for task in operator.tasks() if task.state == "Z"] == []


def test_a_three_shard_cluster_backup_stays_under_the_charts_default_memory_limit(
    real_cluster: RealStack,
    real_api: client.ApiClient,
    node_namespace: str,
    node_bucket: S3Bucket,
    s3_release: Release,
    tmp_path: Path,
) -> None:
    kube = real_cluster.kube
    limit = s3_release.pod()["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert limit == "512Mi", "the chart's default"
    workload(kube, node_namespace, "myclusteredredis", memory="1Gi")
    with cluster_client(kube, node_namespace, "myclusteredredis") as cluster:
        fill_random(cluster, 3 * 160)  # ~160 MiB per shard, streamed at once
    apply(kube, node_namespace, "shards", snapshotName="shards", replicationGroupId="myClusteredRedis")
    body = wait_phase(real_api, node_namespace, "shards", "available", timeout=600)
    shards = body["status"]["nodeSnapshots"]
    assert [s["nodeGroupId"] for s in shards] == ["0001", "0002", "0003"]
    for shard in shards:
        assert int(shard["cacheSize"]) > 100 * MiB
        assert_stored_rdb(fetch_object(node_bucket, shard["objectKey"], tmp_path / "shard.rdb"), shard)
    status = s3_release.pod()["status"]["containerStatuses"][0]
    assert s3_release.restarts() == 0, f"OOM-killed? {status.get('lastState')}\n{s3_release.log()}"
    peak = operator_memory_peak(s3_release)
    print(f"operator memory peak during a 3 x ~160 MiB cluster backup: {peak / MiB:.0f} MiB of {limit}")
    assert peak < 512 * MiB


def operator_memory_peak(release: Release) -> int:
    """memory.max_usage_in_bytes of the operator container's cgroup (cgroup v1)."""
    (process,) = [p for p in release.processes() if p.container == "operator"]
    cgroup = Path(f"/proc/{process.pid}/cgroup").read_text()
    path = next(line.split(":", 2)[2] for line in cgroup.splitlines() if ":memory:" in line)
    return int(Path("/sys/fs/cgroup/memory", path.lstrip("/"), "memory.max_usage_in_bytes").read_text())


def test_deleting_the_operators_pod_mid_backup_completes_the_backup_once(
    real_cluster: RealStack,
    real_api: client.ApiClient,
    node_namespace: str,
    node_bucket: S3Bucket,
    s3_release: Release,
    tmp_path: Path,
) -> None:
    kube = real_cluster.kube
    workload(kube, node_namespace, "mynonclusteredredis", memory="512Mi")
    with pod_client(kube, node_namespace, "mynonclusteredredis-0") as source:
        fill_random(source, 64)
        # Slow the server's RDB down (1 s a key, a minute for these), so the stream outlasts the old Pod: it keeps
        # working through its preStop drain, and with a fast RDB it could finish the backup before it stops.
        source.config_set("rdb-key-save-delay", 1_000_000)
        syncs_before = int(source.info("stats")["sync_full"])
        first = s3_release.pod()["metadata"]["name"]
        apply(kube, node_namespace, "midway", snapshotName="midway", cacheClusterId="myNonClusteredRedis")
        wait_until(lambda: int(source.info("persistence")["rdb_bgsave_in_progress"]) == 1, 60, "streaming")
        time.sleep(1)
        kube.kubectl("delete", "pod", "-n", s3_release.namespace, first, "--wait=false")
        wait_until(lambda: first not in restarts(kube, s3_release.namespace), 180, "the old Pod gone")
        source.config_set("rdb-key-save-delay", 0)
        body = wait_phase(real_api, node_namespace, "midway", "available", timeout=300)
        syncs = int(source.info("stats")["sync_full"]) - syncs_before
    second = s3_release.pod()
    assert second["metadata"]["name"] != first, "the Deployment made a new Pod"
    assert s3_release.restarts() == 0
    assert syncs == 2, "one interrupted stream, one complete"
    (snapshot,) = body["status"]["nodeSnapshots"]
    assert_stored_rdb(fetch_object(node_bucket, snapshot["objectKey"], tmp_path / "midway.rdb"), snapshot)
    attempt = snapshot["objectKey"].rsplit("/", 2)[1]
    # The committed attempt's RDB and the manifest; nothing of the interrupted attempt.
    assert stored_keys(node_bucket, body) == sorted(["manifest.json", f"{attempt}/node-0001.rdb"])
    assert node_bucket.uploads() == [], "the interrupted upload was aborted"
    available = [e for e in kube_events(kube, node_namespace, "midway") if "available" in e.lower()]
    assert len(available) == 1, available


def kube_events(kube: Any, namespace: str, name: str) -> list[str]:
    listing = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [f"{e['reason']}: {e['message']}" for e in listing if e["involvedObject"]["name"] == name]


def test_helm_upgrade_keeps_admitting_backups(
    real_cluster: RealStack, node_namespace: str, s3_release: Release, tmp_path: Path
) -> None:
    """A rollout (here: a changed Pod annotation) must not refuse RedisBackups: the webhook fails closed, so any
    moment without a serving Pod, or with a Pod whose CA the apiserver does not trust yet, refuses creates."""
    kube = real_cluster.kube
    refusals: list[str] = []
    admitted = 0
    stop = threading.Event()

    def admit() -> None:
        nonlocal admitted
        while not stop.is_set():
            probe = (
                "apiVersion: redisbackup.io/v1alpha1\nkind: RedisBackup\n"
                f"metadata: {{name: probe-{admitted}}}\nspec: {{snapshotName: probe{admitted}, cacheClusterId: x}}\n"
            )
            result = kube.kubectl(
                "create", "--dry-run=server", "-n", node_namespace, "-f", "-", input=probe, check=False
            )
            if result.returncode != 0:
                refusals.append(result.stderr.strip())
            admitted += 1
            time.sleep(0.2)

    before = s3_release.pod()["metadata"]["name"]
    worker = threading.Thread(target=admit)
    worker.start()
    try:
        time.sleep(2)
        values = yaml.safe_load(s3_release.values_file.read_text())
        values["podAnnotations"] = {"example.com/rollout": "1"}
        s3_release.upgrade(values, "--wait", "--timeout=4m")
        wait_until(lambda: s3_release.pod()["metadata"]["name"] != before, 120, "the Pod replaced")
        time.sleep(10)  # the new Pod serves a while
    finally:
        stop.set()
        worker.join()
    assert admitted > 20
    assert refusals == [], f"{len(refusals)} of {admitted} refused during the rollout, e.g. {refusals[:3]}"
    wait_until(lambda: before not in restarts(kube, s3_release.namespace), 120, "the old Pod gone")
    assert restarts(kube, s3_release.namespace) == {s3_release.pod()["metadata"]["name"]: 0}


def test_helm_uninstall_keeps_the_redisbackups_and_their_data(
    real_cluster: RealStack,
    real_api: client.ApiClient,
    node_namespace: str,
    node_bucket: S3Bucket,
    tmp_path: Path,
) -> None:
    kube = real_cluster.kube
    workload(kube, node_namespace, "mynonclusteredredis", memory="256Mi")
    with pod_client(kube, node_namespace, "mynonclusteredredis-0") as source:
        source.mset({f"k{i}": i for i in range(1000)})
        syncs_before = int(source.info("stats")["sync_full"])
    secret = s3_secret(kube, node_namespace, node_bucket)
    release = install(real_cluster, node_namespace, tmp_path, s3_values(node_bucket, secret))
    try:
        apply(kube, node_namespace, "kept", snapshotName="kept", cacheClusterId="myNonClusteredRedis")
        body = wait_phase(real_api, node_namespace, "kept", "available", timeout=180)
        stored = node_bucket.keys()
        release.uninstall()
        wait_until(lambda: not release.pods(), 120, "the operator gone")
        after = wait_phase(real_api, node_namespace, "kept", "available", timeout=5)
        assert after["status"] == body["status"], "nothing touched the RedisBackup"
        assert node_bucket.keys() == stored, "the stored snapshot stays"
        # Installed again, the operator takes the backup up as it was: no new snapshot, nothing deleted.
        release = install(real_cluster, node_namespace, tmp_path, s3_values(node_bucket, secret), name="again")
        time.sleep(10)
        assert wait_phase(real_api, node_namespace, "kept", "available", timeout=5)["status"]["phase"] == "available"
        assert node_bucket.keys() == stored
        with pod_client(kube, node_namespace, "mynonclusteredredis-0") as source:
            assert int(source.info("stats")["sync_full"]) == syncs_before + 1, "taken once"
    finally:
        release.uninstall()
        release_backups(kube, node_namespace)
