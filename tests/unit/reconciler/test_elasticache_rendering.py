"""The committed manifest as status fields, and a RedisBackup as ElastiCache prints a snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any

from redisbackup.api.backup import RedisBackup
from redisbackup.api.status import RedisBackupStatus
from redisbackup.domain.describe import human_size, status_fields
from redisbackup.domain.elasticache import (
    elasticache_time,
    snapshot_document,
    snapshot_document_from_body,
    snapshot_document_from_manifest,
)
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord, SourceNode
from redisbackup.domain.pods import SourcePod, Workload

STARTED = dt.datetime(2026, 3, 4, 5, 6, 7, 48_123, tzinfo=dt.UTC)
POD_CREATED = dt.datetime(2026, 1, 12, 18, 59, 48, tzinfo=dt.UTC)


def record(index: int, *, clustered: bool, size: int) -> NodeSnapshotRecord:
    node_id = f"{index:04d}"
    ids: dict[str, Any] = {"node_group_id": node_id} if clustered else {"cache_node_id": node_id}
    return NodeSnapshotRecord(
        **ids,
        slots=f"{(index - 1) * 8192}-{index * 8192 - 1}" if clustered else None,
        cache_size=str(size),
        snapshot_create_time=STARTED,
        object_key=f"ns/nightly/uid/node-{node_id}.rdb",
        engine="redis",
        engine_version="7.0.15",
        rdb_version=10,
        crc64="0123456789abcdef",
        crc64_verified=True,
        sha256="ab" * 32,
        transfer="diskless",
        source_node=SourceNode(host=f"10.0.0.{index}", port=6379, role="replica", name=f"shop-{index}"),
    )


def manifest(*, clustered: bool) -> Manifest:
    count = 2 if clustered else 1
    return Manifest(
        snapshot_name="bkup-20150515",
        namespace="ns",
        uid="uid",
        cache_cluster_id=None if clustered else "shop-1",
        replication_group_id="shop" if clustered else None,
        engine="redis",
        engine_version="7.0.15",
        num_cache_nodes=None if clustered else 1,
        num_node_groups=count if clustered else None,
        snapshot_create_time=STARTED,
        complete_time=STARTED,
        tool_version="0.1.0",
        node_snapshots=tuple(record(i, clustered=clustered, size=1000 * i) for i in range(1, count + 1)),
    )


def pods() -> dict[str, SourcePod]:
    return {
        f"shop-{i}": SourcePod(
            f"shop-{i}", f"10.0.0.{i}", 6379, True, POD_CREATED, Workload("StatefulSet", "shop"), "cpu=1,memory=2Gi"
        )
        for i in (1, 2)
    }


def test_sizes_read_like_kubectl_users_expect() -> None:
    assert [human_size(n) for n in (0, 1023, 1536, 5 << 20, 3 << 40)] == [
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 MiB",
        "3.0 TiB",
    ]


def test_elasticache_times_have_milliseconds_and_a_z() -> None:
    assert elasticache_time(STARTED) == "2026-03-04T05:06:07.048Z"
    assert elasticache_time(None) is None


def test_status_fields_of_a_cluster_snapshot_name_each_shard_its_pod_and_slots() -> None:
    fields = status_fields(
        manifest(clustered=True),
        storage="archive",
        location="s3://b/p/ns/nightly/uid/",
        pods=pods(),
        automatic_failover="enabled",
    )
    RedisBackupStatus.model_validate(fields)
    assert (fields["replicationGroupId"], fields["numNodeGroups"], fields["totalBytes"], fields["size"]) == (
        "shop",
        2,
        3000,
        "2.9 KiB",
    )
    assert fields["cacheNodeType"] == "cpu=1,memory=2Gi"
    first = fields["nodeSnapshots"][0]
    assert first == {
        "nodeGroupId": "0001",
        "cacheSize": "1000",
        "cacheNodeCreateTime": "2026-01-12T18:59:48Z",
        "snapshotCreateTime": "2026-03-04T05:06:07.048123Z",
        "sourcePod": "shop-1",
        "slots": "0-8191",
        "rdbVersion": 10,
        "crc64": "0123456789abcdef",
        "sha256": "ab" * 32,
        "objectKey": "ns/nightly/uid/node-0001.rdb",
    }


def test_a_cluster_backup_prints_like_elasticaches_example_3() -> None:
    fields = status_fields(
        manifest(clustered=True), storage="archive", location="s3://b/", pods=pods(), automatic_failover="enabled"
    )
    body = {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": "nightly"},
        "spec": {"snapshotName": "bkup-20150515", "replicationGroupId": "shop"},
        "status": {**fields, "phase": "available", "snapshotSource": "manual", "somethingNewer": 1},
    }
    snapshot = snapshot_document_from_body(body)["Snapshot"]
    assert snapshot["SnapshotName"] == "bkup-20150515"
    assert (snapshot["SnapshotStatus"], snapshot["SnapshotSource"], snapshot["Engine"]) == (
        "available",
        "manual",
        "redis",
    )
    assert (snapshot["ReplicationGroupId"], snapshot["NumNodeGroups"], snapshot["AutomaticFailover"]) == (
        "shop",
        2,
        "enabled",
    )
    assert "CacheClusterId" not in snapshot
    assert "NumCacheNodes" not in snapshot
    assert snapshot["NodeSnapshots"][1] == {
        "CacheClusterId": "shop-2",
        "NodeGroupId": "0002",
        "CacheNodeId": "0001",
        "NodeGroupConfiguration": {"NodeGroupId": "0002", "Slots": "8192-16383"},
        "CacheSize": "2000",
        "CacheNodeCreateTime": "2026-01-12T18:59:48.000Z",
        "SnapshotCreateTime": "2026-03-04T05:06:07.048Z",
    }


def test_a_single_node_backup_prints_like_elasticaches_example_2() -> None:
    fields = status_fields(manifest(clustered=False), storage="embedded", location="file:///d/", pods=pods())
    backup = RedisBackup.model_validate(
        {
            "metadata": {"name": "nightly"},
            "spec": {"snapshotName": "bkup-20150515", "cacheClusterId": "shop-1"},
            "status": {**fields, "phase": "available", "snapshotSource": "manual"},
        }
    )
    snapshot = snapshot_document(backup)["Snapshot"]
    assert (snapshot["CacheClusterId"], snapshot["NumCacheNodes"], snapshot["Port"]) == ("shop-1", 1, 6379)
    assert snapshot["NodeSnapshots"] == [
        {
            "CacheNodeId": "0001",
            "CacheSize": "1000",
            "CacheNodeCreateTime": "2026-01-12T18:59:48.000Z",
            "SnapshotCreateTime": "2026-03-04T05:06:07.048Z",
        }
    ]
    assert "AutomaticFailover" not in snapshot  # no Kubernetes meaning for one node: left out, not invented


def test_before_the_operator_saw_it_a_backup_is_creating_with_its_source() -> None:
    backup = RedisBackup.model_validate({"metadata": {}, "spec": {"snapshotName": "s", "cacheClusterId": "c"}})
    assert snapshot_document(backup) == {
        "Snapshot": {
            "SnapshotName": "s",
            "CacheClusterId": "c",
            "SnapshotStatus": "creating",
            "SnapshotSource": "manual",
            "SnapshotRetentionLimit": 0,
        }
    }


def test_a_stored_manifest_alone_describes_the_snapshot() -> None:
    snapshot = snapshot_document_from_manifest(manifest(clustered=True))["Snapshot"]
    assert (snapshot["SnapshotStatus"], snapshot["NumNodeGroups"], snapshot["EngineVersion"]) == (
        "available",
        2,
        "7.0.15",
    )
    assert [n["NodeGroupConfiguration"]["Slots"] for n in snapshot["NodeSnapshots"]] == ["0-8191", "8192-16383"]
