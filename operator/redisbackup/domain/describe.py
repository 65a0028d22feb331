"""From a committed manifest to the RedisBackup's status fields (ElastiCache's Snapshot, in camelCase).

The manifest is the commit record in storage; the status repeats what users look at (sizes, times, ids, where
the RDBs are) plus what only Kubernetes knows: the Pods read from, their creation time and resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redisbackup.api.status import NodeSnapshot
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord
from redisbackup.domain.plan import SnapshotPlan, format_slots
from redisbackup.domain.pods import SourcePod

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """1536 → "1.5 KiB"; what the Size printer column shows."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def node_snapshot(record: NodeSnapshotRecord, pod: SourcePod | None) -> NodeSnapshot:
    return NodeSnapshot(
        cache_node_id=record.cache_node_id,
        node_group_id=record.node_group_id,
        cache_size=record.cache_size,
        cache_node_create_time=pod.created if pod is not None else None,
        snapshot_create_time=record.snapshot_create_time,
        source_pod=record.source_node.name,
        slots=record.slots,
        rdb_version=record.rdb_version,
        crc64=record.crc64,
        sha256=record.sha256,
        object_key=record.object_key,
    )


def status_fields(
    manifest: Manifest,
    *,
    storage: str,
    location: str,
    pods: Mapping[str, SourcePod],
    automatic_failover: str | None = None,
) -> dict[str, Any]:
    """The status of an available snapshot (without phase and conditions, which the transition adds).

    `location` is where the snapshot's objects are (store URL + directory); `pods` maps Pod names to what was
    resolved about them (creation time, resources).
    """
    chosen = [pods.get(record.source_node.name or "") for record in manifest.node_snapshots]
    node_types = {pod.node_type for pod in chosen if pod is not None and pod.node_type}
    first = manifest.node_snapshots[0]
    fields: dict[str, Any] = {
        "cacheClusterId": manifest.cache_cluster_id,
        "replicationGroupId": manifest.replication_group_id,
        "engine": manifest.engine,
        "engineVersion": manifest.engine_version,
        "port": first.source_node.port,
        "cacheNodeType": node_types.pop() if len(node_types) == 1 else None,
        "automaticFailover": automatic_failover,
        "numCacheNodes": manifest.num_cache_nodes,
        "numNodeGroups": manifest.num_node_groups,
        "snapshotCreateTime": _timestamp(manifest.snapshot_create_time.isoformat()),
        "nodeSnapshots": [
            node_snapshot(record, pod).model_dump(by_alias=True, exclude_none=True, mode="json")
            for record, pod in zip(manifest.node_snapshots, chosen, strict=True)
        ],
        "storage": storage,
        "location": location,
        "size": human_size(manifest.total_size),
        "totalBytes": manifest.total_size,
    }
    return fields


def _timestamp(text: str) -> str:
    return text.replace("+00:00", "Z")


def planned_fields(
    plan: SnapshotPlan,
    *,
    engine: str | None,
    engine_version: str | None,
    pods: Mapping[str, SourcePod],
    automatic_failover: str | None = None,
) -> dict[str, Any]:
    """What is known once the nodes to read are chosen, before any byte is stored: shown while creating, as
    ElastiCache's CreateSnapshot answer shows the cluster's engine, port and nodes with an empty CacheSize."""
    chosen = [pods.get(target.name or "") for target in plan.nodes]
    node_types = {pod.node_type for pod in chosen if pod is not None and pod.node_type}
    nodes = [
        NodeSnapshot(
            node_group_id=target.id if plan.is_cluster else None,
            cache_node_id=None if plan.is_cluster else target.id,
            cache_size="",
            cache_node_create_time=pod.created if pod is not None else None,
            source_pod=target.name,
            slots=format_slots(target.slots) if target.slots else None,
        ).model_dump(by_alias=True, exclude_none=True, mode="json")
        for target, pod in zip(plan.nodes, chosen, strict=True)
    ]
    return {
        "engine": engine,
        "engineVersion": engine_version,
        "port": plan.nodes[0].address.port if plan.nodes else None,
        "cacheNodeType": node_types.pop() if len(node_types) == 1 else None,
        "automaticFailover": automatic_failover,
        "numCacheNodes": None if plan.is_cluster else len(plan.nodes),
        "numNodeGroups": len(plan.nodes) if plan.is_cluster else None,
        "nodeSnapshots": nodes,
    }
