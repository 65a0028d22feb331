"""The YAML of a Redis restored from a snapshot (`redisbackup restore-manifest`, the console's Restore)."""

from __future__ import annotations

from typing import Any

import yaml

from redisbackup.domain.restore_manifests import RestoreRequest, default_image, restore_yaml

IMAGE = default_image("0.1.0")


def backup(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "baseline", "namespace": "team-a"},
        "spec": {"snapshotName": "Baseline", "cacheClusterId": "testdata-0"},
        "status": {"phase": "available", "engine": "redis", "engineVersion": "7.2.4", **status},
    }


def objects(text: str) -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yaml.safe_load_all(text)}


def test_a_node_snapshot_restores_into_one_pod_of_the_same_engine_and_version_before_redis_starts() -> None:
    text = restore_yaml(RestoreRequest.of(backup(), name=None, image=IMAGE))
    assert text.startswith('# baseline-restored: a single Redis node, restored from snapshot "Baseline".')
    found = objects(text)
    assert set(found) == {
        "ServiceAccount/redis-restore",
        "Role/redis-restore",
        "RoleBinding/redis-restore",
        "Service/baseline-restored",
        "StatefulSet/baseline-restored",
    }
    pod = found["StatefulSet/baseline-restored"]["spec"]["template"]["spec"]
    assert found["StatefulSet/baseline-restored"]["spec"]["replicas"] == 1
    (init,) = pod["initContainers"]
    assert init["image"] == "ghcr.io/redisbackup/redisbackup:0.1.0"
    assert init["args"] == ["restore", "--snapshot-name=Baseline", "--to-dir=/data", "--skip-if-not-empty"]
    (redis,) = pod["containers"]
    assert redis["image"] == "docker.io/library/redis:7.2.4"
    assert redis["args"] == ["redis-server", "--dir", "/data", "--appendonly", "no"]
    assert found["Role/redis-restore"]["rules"][0]["verbs"] == ["get", "list"]


def test_a_cluster_snapshot_restores_one_pod_per_node_group_and_replica_and_a_job_joins_them() -> None:
    body = backup(
        replicationGroupId="shop", numNodeGroups=3, automaticFailover="enabled", engine="valkey", engineVersion="8.0.1"
    )
    found = objects(restore_yaml(RestoreRequest.of(body, name="shop-copy", image=IMAGE)))
    statefulset = found["StatefulSet/shop-copy"]["spec"]
    assert statefulset["replicas"] == 6
    assert "--node-group=auto" in statefulset["template"]["spec"]["initContainers"][0]["args"]
    redis = statefulset["template"]["spec"]["containers"][0]
    assert redis["image"] == "docker.io/valkey/valkey:8.0.1"
    assert redis["args"][0] == "valkey-server"
    assert "--cluster-enabled" in redis["args"]
    job = found["Job/shop-copy-join"]["spec"]["template"]["spec"]["containers"][0]
    assert "--preloaded" in job["args"]
    assert "--replicas=1" in job["args"]
    assert "--nodes=" + ",".join(f"shop-copy-{i}.shop-copy:6379" for i in range(6)) in job["args"]


def test_the_image_follows_the_release_without_its_local_version_part() -> None:
    assert default_image("0.2.0+g1234") == "ghcr.io/redisbackup/redisbackup:0.2.0"
