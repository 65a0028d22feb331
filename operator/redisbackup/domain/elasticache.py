"""A RedisBackup (or a stored manifest) as ElastiCache prints a snapshot: `{"Snapshot": {...}}`.

This is what `aws elasticache describe-snapshots` / `create-snapshot` show, field for field, with the fields that
have a Kubernetes meaning filled in and the others left out (no VpcId, no maintenance window …) rather than
invented. `make demo` prints it, and the `redisbackup` CLI commands reuse it:

    snapshot_document(RedisBackup.model_validate(body))     # from the API object
    snapshot_document_from_manifest(manifest)               # from storage, after the RedisBackup is gone
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from redisbackup.api.backup import RedisBackup
from redisbackup.api.spec import RedisBackupSpec
from redisbackup.api.status import NodeSnapshot, Phase, RedisBackupStatus
from redisbackup.domain.automated import recorded_snapshot_source, schedule_settings

if TYPE_CHECKING:  # only its fields are read: describing API objects never needs the manifest's RDB checks
    from redisbackup.domain.manifest import Manifest


def elasticache_time(value: dt.datetime | None) -> str | None:
    """ElastiCache's timestamp shape: 2017-01-12T18:59:48.048Z (UTC, milliseconds)."""
    if value is None:
        return None
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _without_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _node(node: NodeSnapshot, clustered: bool, show_node_group_config: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        # In a replication group, ElastiCache names the member cluster a node belongs to; ours is the Pod.
        "CacheClusterId": node.source_pod if clustered else None,
        "NodeGroupId": node.node_group_id,
        "CacheNodeId": node.cache_node_id or ("0001" if clustered else None),
        "NodeGroupConfiguration": _without_none({"NodeGroupId": node.node_group_id, "Slots": node.slots})
        if clustered and show_node_group_config
        else None,
        "CacheSize": node.cache_size if node.cache_size is not None else "",
        "CacheNodeCreateTime": elasticache_time(node.cache_node_create_time),
        "SnapshotCreateTime": elasticache_time(node.snapshot_create_time),
    }
    return _without_none(entry)


def snapshot_fields(
    snapshot_name: str,
    status: RedisBackupStatus,
    *,
    show_node_group_config: bool = True,
    retention_limit: int = 0,
    snapshot_window: str | None = None,
) -> dict[str, Any]:
    """The Snapshot object's fields (without the outer {"Snapshot": …}).

    `show_node_group_config` adds each shard's NodeGroupConfiguration (its slots), as DescribeSnapshots'
    ShowNodeGroupConfig does. SnapshotRetentionLimit is 0 for a manual snapshot (kept until deleted); an automated
    one shows its schedule's limit and window (`domain.automated.schedule_settings`).
    """
    clustered = status.replication_group_id is not None
    nodes = status.node_snapshots or []
    first_node_created = nodes[0].cache_node_create_time if nodes and not clustered else None
    fields = {
        "SnapshotName": snapshot_name,
        "ReplicationGroupId": status.replication_group_id,
        "CacheClusterId": status.cache_cluster_id,
        "SnapshotStatus": (status.phase or Phase.CREATING).value,
        "SnapshotSource": status.snapshot_source or "manual",
        "CacheNodeType": status.cache_node_type,
        "Engine": status.engine,
        "EngineVersion": status.engine_version,
        "NumCacheNodes": status.num_cache_nodes,
        # A single node's Pod is its "cache cluster": ElastiCache shows both times, equal for one node.
        "CacheClusterCreateTime": elasticache_time(first_node_created),
        "Port": status.port,
        "SnapshotRetentionLimit": retention_limit,
        "SnapshotWindow": snapshot_window,
        "NumNodeGroups": status.num_node_groups,
        "AutomaticFailover": status.automatic_failover,
        "NodeSnapshots": [_node(node, clustered, show_node_group_config) for node in nodes] or None,
    }
    return _without_none(fields)


def snapshot_document(backup: RedisBackup, *, show_node_group_config: bool = True) -> dict[str, Any]:
    """`{"Snapshot": {...}}` for a RedisBackup; before the operator has seen it, just name, source and creating.

    A RedisBackup whose deletion was requested is `deleting` even before the operator says so (DeleteSnapshot's
    answer)."""
    status = backup.status or RedisBackupStatus()
    if status.cache_cluster_id is None and status.replication_group_id is None:
        spec = backup.spec
        status = status.model_copy(
            update={"cache_cluster_id": spec.cache_cluster_id, "replication_group_id": spec.replication_group_id}
        )
    if backup.metadata.get("deletionTimestamp"):
        status = status.model_copy(update={"phase": Phase.DELETING})
    # Automated or manual: the operator's recorded word, else the ownership rule (one rule: domain.automated).
    body = {"metadata": backup.metadata, "status": {"snapshotSource": status.snapshot_source}}
    status = status.model_copy(update={"snapshot_source": recorded_snapshot_source(body)})
    retention_limit, window = schedule_settings(body)
    fields = snapshot_fields(
        backup.spec.snapshot_name,
        status,
        show_node_group_config=show_node_group_config,
        retention_limit=retention_limit,
        snapshot_window=window,
    )
    return {"Snapshot": fields}


def snapshot_document_from_body(body: Mapping[str, Any], *, show_node_group_config: bool = True) -> dict[str, Any]:
    """The same from a raw API body; fields this version does not know (newer status or spec) are ignored."""
    return snapshot_document(backup_from_body(body), show_node_group_config=show_node_group_config)


def backup_from_body(body: Mapping[str, Any]) -> RedisBackup:
    """A RedisBackup model of an API body, ignoring what this version does not know (a newer operator's fields)."""
    status = _known(RedisBackupStatus, body.get("status"))
    spec = _known(RedisBackupSpec, body.get("spec"))
    return RedisBackup.model_validate({**body, "spec": spec, "status": status or None})


def _known(model: type[BaseModel], values: Mapping[str, Any] | None) -> dict[str, Any]:
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return {key: value for key, value in (values or {}).items() if key in known}


def snapshot_document_from_manifest(manifest: Manifest, *, show_node_group_config: bool = True) -> dict[str, Any]:
    """A stored snapshot described from its manifest alone (the RedisBackup may be long gone)."""
    clustered = manifest.replication_group_id is not None
    status = RedisBackupStatus(
        phase=Phase.AVAILABLE,
        snapshot_source="manual",
        cache_cluster_id=manifest.cache_cluster_id,
        replication_group_id=manifest.replication_group_id,
        engine=manifest.engine,
        engine_version=manifest.engine_version,
        port=manifest.node_snapshots[0].source_node.port,
        num_cache_nodes=manifest.num_cache_nodes,
        num_node_groups=manifest.num_node_groups,
        snapshot_create_time=manifest.snapshot_create_time,
        node_snapshots=[
            NodeSnapshot(
                cache_node_id=record.cache_node_id,
                node_group_id=record.node_group_id,
                cache_size=record.cache_size,
                snapshot_create_time=record.snapshot_create_time,
                source_pod=record.source_node.name if clustered else None,
                slots=record.slots,
            )
            for record in manifest.node_snapshots
        ],
    )
    return {"Snapshot": snapshot_fields(manifest.snapshot_name, status, show_node_group_config=show_node_group_config)}
