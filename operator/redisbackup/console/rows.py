"""What the console's tables show, shaped from the core's ElastiCache documents (no rule of its own).

Redis page: one row per Redis cluster as ElastiCache's console lists them — each replication group (a Redis
Cluster, or a replicated set) and each cache cluster that belongs to none — with what a backup of it may name
(`SourceChoice`): a Redis Cluster by ReplicationGroupId; a node by CacheClusterId; a replicated set by one of its
nodes (ElastiCache asks for a node there too), a replica first so the primary is spared the fork.

Backups page: one row per RedisBackup, from the core's Snapshot document.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redisbackup.domain.cache_clusters import RedisWorkloads, cache_cluster, replication_group
from redisbackup.domain.describe import human_size

Parameter = Literal["cacheClusterId", "replicationGroupId"]


@dataclass(frozen=True)
class SourceChoice:
    parameter: Parameter
    id: str
    label: str

    @property
    def value(self) -> str:
        return f"{self.parameter}:{self.id}"


@dataclass(frozen=True)
class RedisRow:
    id: str
    mode: str
    engine: str
    version: str
    nodes: int
    shards: int | None
    node_type: str
    status: str
    sources: tuple[SourceChoice, ...]

    def source(self, value: str | None) -> SourceChoice | None:
        """The choice a form sent (None: the first, the one proposed)."""
        if value is None:
            return self.sources[0] if self.sources else None
        return next((choice for choice in self.sources if choice.value == value), None)


def _members_replicas_first(group: Mapping[str, Any]) -> list[str]:
    members = [m for g in group.get("NodeGroups") or [] for m in g.get("NodeGroupMembers") or []]
    ordered = sorted(members, key=lambda m: (m.get("CurrentRole") != "replica", str(m.get("CacheClusterId", ""))))
    names = [str(m["CacheClusterId"]) for m in ordered if m.get("CacheClusterId")]
    return names or [str(name) for name in group.get("MemberClusters") or []]


def _group_row(group: Mapping[str, Any], versions: Mapping[str, str]) -> RedisRow:
    group_id = str(group["ReplicationGroupId"])
    members = [str(name) for name in group.get("MemberClusters") or []]
    node_choices = tuple(
        SourceChoice("cacheClusterId", name, f"node {name}") for name in _members_replicas_first(group)
    )
    whole = SourceChoice("replicationGroupId", group_id, f"the whole Redis Cluster {group_id} (every shard)")
    clustered = group.get("ClusterEnabled")
    sources: tuple[SourceChoice, ...]
    if clustered is True:
        mode, shards, sources = "Redis Cluster", len(group.get("NodeGroups") or []), (whole,)
    elif clustered is False:
        mode, shards, sources = "Replicated", 1, node_choices
    else:  # its Redis could not be asked (a password, TLS): let the user say
        mode, shards, sources = "Group", None, (*node_choices, whole)
    version = next((versions[name] for name in members if name in versions), "")
    return RedisRow(
        id=group_id,
        mode=mode,
        engine=str(group.get("Engine") or ""),
        version=version,
        nodes=len(members),
        shards=shards,
        node_type=str(group.get("CacheNodeType") or ""),
        status=str(group.get("Status") or ""),
        sources=sources,
    )


def _cluster_row(cluster: Mapping[str, Any]) -> RedisRow:
    cluster_id = str(cluster["CacheClusterId"])
    return RedisRow(
        id=cluster_id,
        mode="Node",
        engine=str(cluster.get("Engine") or ""),
        version=str(cluster.get("EngineVersion") or ""),
        nodes=int(cluster.get("NumCacheNodes") or 1),
        shards=None,
        node_type=str(cluster.get("CacheNodeType") or ""),
        status=str(cluster.get("CacheClusterStatus") or ""),
        sources=(SourceChoice("cacheClusterId", cluster_id, f"node {cluster_id}"),),
    )


def redis_rows(clusters: Sequence[Mapping[str, Any]], groups: Sequence[Mapping[str, Any]]) -> list[RedisRow]:
    """Rows from DescribeCacheClusters' and DescribeReplicationGroups' documents, by name."""
    versions = {str(c["CacheClusterId"]): str(c["EngineVersion"]) for c in clusters if c.get("EngineVersion")}
    rows = [_group_row(group, versions) for group in groups]
    rows += [_cluster_row(cluster) for cluster in clusters if not cluster.get("ReplicationGroupId")]
    return sorted(rows, key=lambda row: row.id)


def live_statuses(workloads: RedisWorkloads) -> dict[str, str]:
    """Each row's status from the Kubernetes objects alone (no Redis asked): what the live page updates."""
    statuses = {
        group_id: str(replication_group(group_id, statefulset, pods, arn=None)["Status"])
        for group_id, (statefulset, pods) in workloads.groups().items()
    }
    for cluster_id, pod, group in workloads.cache_clusters():
        if group is None:
            statuses[cluster_id] = str(
                cache_cluster(
                    cluster_id, pod, None, show_node_info=False, arn=None, statefulset=workloads.node_statefulset(pod)
                )["CacheClusterStatus"]
            )
    return statuses


# ------------------------------------------------------------------------------------------------------ backups
STATUSES = ("creating", "available", "failed", "deleting")


@dataclass(frozen=True)
class BackupRow:
    namespace: str
    name: str
    """metadata.name (the details page's address)."""
    snapshot_name: str
    source: str
    status: str
    type: str
    engine: str
    created: str
    size: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def phase_of(body: Mapping[str, Any]) -> str:
    """A RedisBackup's SnapshotStatus, cheaply (filters run on every listed backup)."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return "deleting"
    return str((body.get("status") or {}).get("phase") or "creating")


def newest_first(bodies: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    def key(body: Mapping[str, Any]) -> tuple[str, str, str]:
        metadata = body.get("metadata") or {}
        return (str(metadata.get("creationTimestamp", "")), str(metadata.get("namespace")), str(metadata.get("name")))

    return sorted(bodies, key=key, reverse=True)


def _created(text: str) -> str:
    if not text:
        return ""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def backup_row(body: Mapping[str, Any], snapshot: Mapping[str, Any]) -> BackupRow:
    """A row of a RedisBackup and its Snapshot document (the core's `snapshots.snapshot`)."""
    metadata, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    if spec.get("sourceSnapshotName"):
        source = f"copy of {spec['sourceSnapshotName']}"
    else:
        source = str(snapshot.get("ReplicationGroupId") or snapshot.get("CacheClusterId") or "")
    total = status.get("totalBytes")
    size = str(status.get("size") or (human_size(int(total)) if total is not None else ""))
    engine = " ".join(str(part) for part in (snapshot.get("Engine"), snapshot.get("EngineVersion")) if part)
    return BackupRow(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        snapshot_name=str(snapshot.get("SnapshotName") or spec.get("snapshotName") or ""),
        source=source,
        status=str(snapshot.get("SnapshotStatus") or phase_of(body)),
        type="manual" if snapshot.get("SnapshotSource", "manual") == "manual" else "automated",
        engine=engine,
        created=_created(str(metadata.get("creationTimestamp") or "")),
        size=size,
    )
