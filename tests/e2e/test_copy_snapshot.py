"""copy-snapshot: a server-side copy into a new RedisBackup that outlives its source, checked byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, Storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.admission_cases import manifest
from tests.e2e.operator_support import get, wait_gone
from tests.e2e.restore_support import every_database, redisbackup, seed_baseline

pytestmark = pytest.mark.e2e


def two_locations(directory: Path, s3: S3Bucket) -> Storage:
    """The embedded directory as the default location, and an S3 bucket named "archive"."""
    archive = {
        "bucket": s3.bucket,
        "prefix": "archive",
        "endpoint": s3.endpoint_url,
        "region": s3.region,
        "addressingStyle": "path",
    }
    locations = {"embedded": {"file": {"path": str(directory)}}, "archive": {"s3": archive}}
    env = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    return Storage({"defaultLocation": "embedded", "locations": locations}, env)


def test_a_copy_in_another_location_outlives_its_source_and_restores_the_same_data(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    operator = start_operator(namespaces=[namespace], storage=two_locations(tmp_path / "embedded", s3))
    assert operator.config_path is not None
    env = {"KUBECONFIG": str(kube.kubeconfig), "REDISBACKUP_CONFIG": str(operator.config_path), **operator.env}
    with redis_standalone.primary.client() as redis:
        seed_baseline(redis, big=False)
    baseline = every_database(redis_standalone.primary)
    mirror.pods(redis_standalone, namespace, "cache")
    created = redisbackup(
        "create-snapshot", "-n", namespace, "--snapshot-name", "nightly", "--cache-cluster-id", "cache-001", "--wait",
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    source = json.loads(created.stdout)["Snapshot"]

    copied = redisbackup(
        "copy-snapshot", "-n", namespace, "--source-snapshot-name", "nightly", "--target-snapshot-name", "nightly-copy",
        "--target-location", "archive", "--tags", "Key=purpose,Value=archive", "--wait", env=env,
    )  # fmt: skip

    assert copied.returncode == 0, f"{copied.stderr}\n{operator.log_tail()}"
    copy = json.loads(copied.stdout)["Snapshot"]
    assert copy == {**source, "SnapshotName": "nightly-copy"}  # ElastiCache's copy describes what the source did
    body = get(kube_api, namespace, "nightly-copy")
    assert body is not None
    status = body["status"]
    assert (status["source"], status["storage"], status["cacheClusterId"]) == ("nightly", "archive", "cache-001")
    directory = f"archive/{namespace}/nightly-copy/{body['metadata']['uid']}/"
    (node,) = status["nodeSnapshots"]
    assert s3.keys(directory) == sorted([f"{directory}manifest.json", f"archive/{node['objectKey']}"])
    stored = json.loads(s3.client().get_object(Bucket=s3.bucket, Key=f"{directory}manifest.json")["Body"].read())
    assert stored["copiedFrom"]["snapshotName"] == "nightly"
    assert stored["tags"] == {"purpose": "archive"}
    source_status = get(kube_api, namespace, "nightly")["status"]  # type: ignore[index]
    assert stored["nodeSnapshots"][0]["sha256"] == source_status["nodeSnapshots"][0]["sha256"]

    deleted = redisbackup("delete-snapshot", "-n", namespace, "--snapshot-name", "nightly", "--wait", env=env)
    assert deleted.returncode == 0, deleted.stderr
    wait_gone(kube_api, namespace, "nightly")
    assert not list((tmp_path / "embedded").rglob("*.rdb")), "the source's own objects are gone"

    restored = redisbackup(
        "restore", "-n", namespace, "--snapshot-name", "nightly-copy", "--to-dir", str(tmp_path / "new"), env=env
    )
    assert restored.returncode == 0, restored.stderr
    assert every_database(redis_factory.from_rdb(tmp_path / "new" / "dump.rdb")) == baseline


def test_copying_a_missing_snapshot_is_refused_and_a_copy_cannot_also_name_redis(
    kube: Cluster, kube_api: client.ApiClient, start_operator: StartOperator, namespace: str, tmp_path: Path
) -> None:
    operator = start_operator(
        namespaces=[namespace], storage=Storage({"locations": {"embedded": {"file": {"path": str(tmp_path)}}}})
    )
    missing = redisbackup(
        "copy-snapshot", "-n", namespace, "--source-snapshot-name", "nope", "--target-snapshot-name", "copy",
        env={"KUBECONFIG": str(kube.kubeconfig)},
    )  # fmt: skip
    assert missing.returncode == 254, operator.log_tail()
    assert missing.stderr.startswith(
        "\nAn error occurred (SnapshotNotFoundFault) when calling the CopySnapshot operation: "
        'spec.sourceSnapshotName "nope": no RedisBackup in namespace'
    )
    wait_gone(kube_api, namespace, "copy")

    both = manifest("both", snapshotName="both", sourceSnapshotName="nightly", cacheClusterId="cache-001")
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=both, check=False)
    assert refused.returncode != 0
    assert "InvalidParameterCombination: more than one of spec.cacheClusterId" in refused.stderr
    with_auth = manifest(
        "auth", snapshotName="auth", sourceSnapshotName="nightly", auth={"secretRef": {"name": "s", "key": "k"}}
    )
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=with_auth, check=False)
    assert "InvalidParameterCombination: spec.sourceSnapshotName copies a stored snapshot" in refused.stderr
