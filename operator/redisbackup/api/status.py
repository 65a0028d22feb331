"""RedisBackup.status: the snapshot as ElastiCache's DescribeSnapshots shows it, plus Kubernetes conditions.

Field names follow ElastiCache's Snapshot and NodeSnapshot (in camelCase) wherever ElastiCache has the field;
fields without a Kubernetes meaning are left out rather than invented. Conditions follow the Kubernetes
convention (type/status/reason/message/observedGeneration/lastTransitionTime), which kstatus and Argo CD read.
The operator writes status only through the named transitions in `redisbackup.domain`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)


class Phase(StrEnum):
    """ElastiCache's SnapshotStatus words (the ones a manual snapshot goes through)."""

    CREATING = "creating"
    AVAILABLE = "available"
    FAILED = "failed"
    DELETING = "deleting"


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    FAILED = "Failed"
    DELETION_BLOCKED = "DeletionBlocked"
    # kstatus' "abnormal-true" pair, which Flux (and kpt, cli-utils) read before anything else: Reconciling=True is
    # InProgress, Stalled=True is Failed. Without Stalled a failed backup would look InProgress to Flux forever.
    RECONCILING = "Reconciling"
    STALLED = "Stalled"
    VERIFIED = "Verified"


class Condition(StatusModel):
    """One aspect of the RedisBackup's state, in the Kubernetes condition convention."""

    type: str = Field(
        description="Ready (the snapshot is available), Progressing (being taken), Failed, DeletionBlocked "
        "(the stored data could not be deleted yet), kstatus' Reconciling (being taken or deleted) and Stalled "
        "(failed for good), and Verified (the stored snapshot was restored into a throwaway redis-server: True "
        "when it passed, False with the fault as reason when it did not).",
        min_length=1,
        max_length=316,
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="",
        max_length=1024,
        description="A CamelCase word for the cause: an ElastiCache fault code (e.g. CacheClusterNotFound) or one "
        "of ours (e.g. ChecksumMismatch).",
    )
    message: str = Field(default="", max_length=32768, description="What happened, for humans.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation this condition was computed from."
    )
    last_transition_time: datetime = Field(description="When status last changed.")


class NodeSnapshot(StatusModel):
    """The snapshot of one Redis node (one shard's node for a Redis Cluster), as ElastiCache's NodeSnapshot."""

    cache_node_id: str | None = Field(
        default=None, description="For a single-node source: the node's id (0001), as ElastiCache's CacheNodeId."
    )
    node_group_id: str | None = Field(
        default=None,
        description="For a Redis Cluster: the shard's id (0001, 0002, … ordered by lowest slot), as ElastiCache's "
        "NodeGroupId.",
    )
    cache_size: str | None = Field(
        default=None, description="Size of the RDB in bytes, as a string like ElastiCache's CacheSize."
    )
    cache_node_create_time: datetime | None = Field(
        default=None, description="When the source Pod was created, as ElastiCache's CacheNodeCreateTime."
    )
    snapshot_create_time: datetime | None = Field(
        default=None, description="When this node's snapshot started (the server's fork)."
    )
    source_pod: str | None = Field(default=None, description="The Pod the RDB was read from.")
    slots: str | None = Field(
        default=None, description="Hash slots of the shard, e.g. 0-5460 or 0-100,200-5460 (Redis Cluster only)."
    )
    rdb_version: int | None = Field(default=None, description="RDB format version from the file header.")
    crc64: str | None = Field(
        default=None, description="The RDB's CRC-64 trailer (Redis's CRC-64/Jones), 16 hex digits, verified."
    )
    sha256: str | None = Field(default=None, description="SHA-256 of the stored RDB, 64 hex digits.")
    object_key: str | None = Field(default=None, description="Where the RDB is stored within the location.")


class Progress(StatusModel):
    """How far the snapshot has been streamed to storage."""

    bytes_done: int = Field(default=0, ge=0, description="Bytes of RDB stored so far, over all nodes.")
    bytes_total: int | None = Field(
        default=None, ge=0, description="Expected total bytes, when the servers announced sizes."
    )


VerificationResult = Literal["Passed", "Failed", "Unknown"]


class NodeVerification(StatusModel):
    """What the verification found in one node's (or shard's) stored RDB."""

    cache_node_id: str | None = Field(default=None, description="The node's CacheNodeId (single-node snapshots).")
    node_group_id: str | None = Field(default=None, description="The shard's NodeGroupId (Redis Cluster).")
    result: VerificationResult = Field(
        description="Passed, Failed, or Unknown when no reader here understands its RDB version (no verdict)."
    )
    keys: int | None = Field(default=None, ge=0, description="Keys loaded from the RDB, over all databases.")
    expires: int | None = Field(default=None, ge=0, description="Of those, keys with a time to live.")
    reason: str | None = Field(default=None, description="The fault code, when it failed.")
    message: str | None = Field(default=None, max_length=4096, description="What failed, when it failed.")


class Verification(StatusModel):
    """The last verification of the stored snapshot (spec.verify, or `redisbackup verify`)."""

    result: VerificationResult = Field(
        description="Passed when every node passed every check; Failed when one failed; Unknown when no reader "
        "understood a node's RDB version (no verdict on the snapshot)."
    )
    verify_time: datetime = Field(description="When the verification finished.")
    keys: int | None = Field(default=None, ge=0, description="Keys loaded, over all nodes.")
    loader: str | None = Field(
        default=None, description="The server that checked and loaded the RDBs, e.g. redis 8.0.2 or valkey 8.1.1."
    )
    reason: str | None = Field(default=None, description="The first fault code, when it failed.")
    message: str | None = Field(default=None, max_length=4096, description="What failed, when it failed.")
    nodes: list[NodeVerification] | None = Field(default=None, description="One entry per node or shard.")


class RedisBackupStatus(StatusModel):
    """The observed state of the snapshot; written by the operator only."""

    phase: Phase | None = Field(
        default=None, description="creating, available, failed or deleting (ElastiCache's SnapshotStatus)."
    )
    snapshot_source: Literal["manual", "automated"] | None = Field(
        default=None,
        description="ElastiCache's SnapshotSource: automated for the backups a RedisBackupSchedule creates (owned by "
        "it and labelled redisbackup.io/schedule), manual for every other one. Decided by the operator when the "
        "snapshot starts, and kept.",
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the operator last acted on."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready, Progressing, Failed, DeletionBlocked, Reconciling, Stalled and Verified conditions.",
        # One entry per type, merged by type under server-side apply (the Kubernetes condition convention).
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    source: str | None = Field(
        default=None,
        description="The source as given: the cacheClusterId, the replicationGroupId, or for a copy the "
        "sourceSnapshotName.",
    )
    cache_cluster_id: str | None = Field(default=None, description="The source node, for a single-node snapshot.")
    replication_group_id: str | None = Field(default=None, description="The source Redis Cluster.")
    engine: Literal["redis", "valkey"] | None = Field(default=None, description="redis or valkey.")
    engine_version: str | None = Field(default=None, description="The server's version (INFO server).")
    port: int | None = Field(default=None, ge=1, le=65535, description="The Redis port the snapshot was read from.")
    cache_node_type: str | None = Field(
        default=None, description="The source Pod's resources, e.g. cpu=1,memory=2Gi (ElastiCache's CacheNodeType)."
    )
    automatic_failover: Literal["enabled", "disabled"] | None = Field(
        default=None, description="Whether the source had replicas that could take over (ElastiCache's field)."
    )
    num_cache_nodes: int | None = Field(default=None, ge=0, description="Nodes snapshotted (single-node: 1).")
    num_node_groups: int | None = Field(default=None, ge=0, description="Shards snapshotted (Redis Cluster).")
    snapshot_create_time: datetime | None = Field(default=None, description="When the snapshot started.")
    node_snapshots: list[NodeSnapshot] | None = Field(default=None, description="One entry per node or shard.")
    storage: str | None = Field(default=None, description="The storage location (from the operator's config) used.")
    location: str | None = Field(
        default=None, description="Where the snapshot is stored: s3://bucket/prefix/… or a directory path."
    )
    size: str | None = Field(default=None, description="Total size of the snapshot, human-readable (e.g. 1.5 MiB).")
    total_bytes: int | None = Field(default=None, ge=0, description="Total size of the snapshot in bytes.")
    progress: Progress | None = Field(default=None, description="Streaming progress while creating.")
    source_missing_since: datetime | None = Field(
        default=None,
        description="When the snapshot began waiting for its source (or a Secret) to appear, or its Pod to be "
        "Ready: limits.sourceMissingDeadlineSeconds counts from here, so a backup that queued behind others does "
        "not fail at once when its Pod is briefly not Ready. Cleared when the source is found.",
    )
    busy_since: datetime | None = Field(
        default=None,
        description="When the snapshot began waiting for a Redis node that cannot serve it yet (loading its data "
        "set, running a long script, a replica without its primary): limits.busyDeadlineSeconds counts from here. "
        "Cleared when the wait is over.",
    )
    verification: Verification | None = Field(
        default=None,
        description="The last verification: each stored RDB checked against the manifest, by redis-check-rdb and "
        "by loading it into a throwaway redis-server.",
    )
