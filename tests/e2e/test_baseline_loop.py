"""The seed's use case, end to end and twice: baseline data → create-snapshot → available → the application
changes the data → restore into a brand-new node (or 3-shard cluster) → every key equals the baseline.

Everything is real: the apiserver, the operator (snapshots into SeaweedFS S3, its keys from files as a mounted
Secret provides them), redis-servers mirrored as Pods, and the `redisbackup` command run as a user runs it, with
the operator's configuration file to reach the storage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.datasets import server_version
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.gitops import argocd_health, kstatus
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import apply, condition, get, wait_for, wait_phase
from tests.e2e.restore_support import (
    cluster_dataset,
    cluster_state,
    every_database,
    fresh_cluster_nodes,
    load_functions,
    mutate,
    redisbackup,
    seed_baseline,
)

pytestmark = pytest.mark.e2e


def user_env(kube: Cluster, operator: RunningOperator) -> dict[str, str]:
    """What a user's shell has: a kubeconfig, and the operator's configuration file for the storage."""
    assert operator.config_path is not None
    return {"KUBECONFIG": str(kube.kubeconfig), "REDISBACKUP_CONFIG": str(operator.config_path)}


def create_snapshot(env: dict[str, str], namespace: str, *args: str) -> dict[str, Any]:
    result = redisbackup("create-snapshot", "-n", namespace, "--wait", *args, env=env)
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, Any] = json.loads(result.stdout)["Snapshot"]
    assert snapshot["SnapshotStatus"] == "available"
    return snapshot


@pytest.fixture
def operator(start_operator: StartOperator, namespace: str, s3: S3Bucket, tmp_path: Path) -> RunningOperator:
    return start_operator(
        namespaces=[namespace], storage=s3_storage(s3, prefix="backups", credentials_dir=tmp_path / "s3-secret")
    )


def test_the_seeds_loop_on_a_node_twice(
    kube: Cluster,
    operator: RunningOperator,
    namespace: str,
    redis_factory: RedisFactory,
    mirror: Mirror,
    tmp_path: Path,
) -> None:
    source = redis_factory.standalone()
    with source.primary.client() as redis:
        seed_baseline(redis, databases=(2,))
        load_functions(redis)
    baseline = every_database(source.primary)
    mirror.pods(source, namespace, "testdata")
    env = user_env(kube, operator)

    create_snapshot(env, namespace, "--snapshot-name", "Baseline", "--cache-cluster-id", "testdata-001")

    for attempt in (1, 2):
        with source.primary.client() as redis:
            mutate(redis, prefix="base")  # the application under test changes the data
        assert every_database(source.primary) != baseline
        data_dir = tmp_path / f"new-node-{attempt}"
        restored = redisbackup(
            "restore", "--snapshot-name", "baseline", "-n", namespace, "--to-dir", str(data_dir), env=env
        )
        assert restored.returncode == 0, restored.stderr
        assert 'restored node 0001 of snapshot "Baseline"' in restored.stdout
        fresh = redis_factory.from_rdb(data_dir / "dump.rdb")
        assert every_database(fresh) == baseline, f"attempt {attempt}: the new node differs from the baseline"


def test_the_seeds_loop_on_a_3_shard_cluster_twice(
    kube: Cluster,
    operator: RunningOperator,
    namespace: str,
    redis_factory: RedisFactory,
    mirror: Mirror,
) -> None:
    source = redis_factory.cluster(shards=3, replicas=1)
    with source.cluster_client() as redis:
        seed_baseline(redis)
    for primary in source.primaries:
        with primary.client() as redis:
            load_functions(redis)
    baseline = cluster_dataset(source.primaries)
    mirror.statefulset(source, namespace, "shop")
    env = user_env(kube, operator)

    snapshot = create_snapshot(env, namespace, "--snapshot-name", "shop-baseline", "--replication-group-id", "shop")
    assert snapshot["NumNodeGroups"] == 3

    tested = source
    for attempt in (1, 2):
        with tested.cluster_client() as redis:
            mutate(redis, prefix="base")  # the application under test changes the data
        nodes = fresh_cluster_nodes(redis_factory, 6)
        restored = redisbackup(
            "restore-cluster", "--snapshot-name", "shop-baseline", "-n", namespace, "--replicas", "1",
            "--nodes", ",".join(node.address for node in nodes), "-o", "json", env=env,
        )  # fmt: skip
        assert restored.returncode == 0, restored.stderr
        assert json.loads(restored.stdout)["clusterState"] == "ok"
        assert all(cluster_state(node) == "ok" for node in nodes)
        assert cluster_dataset(nodes[:3]) == baseline, f"attempt {attempt}: the new cluster differs from the baseline"
        for primary in nodes[:3]:
            with primary.client() as redis:
                assert redis.execute_command("FCALL", "answer", 0) == 42
        tested = Topology(name=f"restored-{attempt}", kind="cluster", nodes=nodes)  # the next test run uses it


def test_restore_refuses_a_backup_that_is_not_available(
    kube: Cluster, kube_api: client.ApiClient, operator: RunningOperator, namespace: str, tmp_path: Path
) -> None:
    env = user_env(kube, operator)
    apply(kube, namespace, "later", snapshotName="later", cacheClusterId="not-there-yet")  # waits for its source
    wait_for(
        kube_api,
        namespace,
        "later",
        lambda body: any(
            c.get("reason") == "CacheClusterNotFound" for c in (body.get("status") or {}).get("conditions") or []
        ),
        what="waited for its source",
        operator=operator,
    )

    refused = redisbackup(
        "restore", "--snapshot-name", "later", "-n", namespace, "--to-dir", str(tmp_path / "d"), env=env
    )

    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f'redisbackup restore: InvalidSnapshotState: snapshot "later" in namespace {namespace} is creating, not '
        "available: only an available snapshot can be restored; wait for it: kubectl wait"
    )
    assert not (tmp_path / "d").exists()
    missing = redisbackup(
        "restore", "--snapshot-name", "nope", "-n", namespace, "--to-dir", str(tmp_path / "d"), env=env
    )
    assert missing.returncode == 1
    assert "SnapshotNotFoundFault: Snapshot nope not found" in missing.stderr


def test_spec_verify_records_a_passed_verification_and_a_corrupted_object_is_caught(
    kube: Cluster,
    kube_api: client.ApiClient,
    operator: RunningOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
    s3: S3Bucket,
) -> None:
    with redis_standalone.primary.client() as redis:
        seed_baseline(redis, big=False)
        keys = redis.dbsize()
        engine, version = server_version(redis)  # the operator's reader here is the source's own version
    mirror.pods(redis_standalone, namespace, "verified")
    apply(kube, namespace, "checked", snapshotName="checked", cacheClusterId="verified-001", verify=True)
    body = wait_for(
        kube_api,
        namespace,
        "checked",
        lambda b: bool((b.get("status") or {}).get("verification")),
        what="was verified",
        operator=operator,
    )
    verification = body["status"]["verification"]
    assert (verification["result"], verification["keys"], verification["loader"]) == (
        "Passed",
        keys,
        f"{engine} {version}",
    )
    assert verification["nodes"] == [
        {"cacheNodeId": "0001", "result": "Passed", "keys": keys, "expires": keys // 7 + 1}
    ]
    verified = condition(body, "Verified")
    assert (verified["status"], verified["reason"]) == ("True", "Verified")

    key = f"backups/{body['status']['nodeSnapshots'][0]['objectKey']}"
    stored = bytearray(s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read())
    stored[len(stored) // 2] ^= 0xFF
    s3.client().put_object(Bucket=s3.bucket, Key=key, Body=bytes(stored))

    result = redisbackup("verify", "--snapshot-name", "checked", "-n", namespace, env=user_env(kube, operator))

    assert result.returncode == 1
    assert "node 0001: Failed: StoredObjectCorrupt: " in result.stdout
    assert "condition Verified=False" in result.stdout
    after = get(kube_api, namespace, "checked")
    assert after is not None
    assert after["status"]["phase"] == "available"  # the snapshot exists; the condition says it cannot be trusted
    assert (after["status"]["verification"]["result"], after["status"]["verification"]["reason"]) == (
        "Failed",
        "StoredObjectCorrupt",
    )
    failed = condition(after, "Verified")
    assert (failed["status"], failed["reason"]) == ("False", "StoredObjectCorrupt")
    assert (kstatus(after).status, argocd_health(after).status) == ("Failed", "Degraded")
    events = client.CoreV1Api(kube_api).list_namespaced_event(namespace, field_selector="involvedObject.name=checked")
    assert any(e.reason == "StoredObjectCorrupt" and e.type == "Warning" for e in events.items)
    wait_phase(kube_api, namespace, "checked", "available")
