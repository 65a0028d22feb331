"""manifest.json: the commit record of a snapshot, written after every RDB is stored and verified.

Field names follow ElastiCache's Snapshot/NodeSnapshot (camelCase, as in the RedisBackup status) so the manifest
alone can answer describe-snapshots after the RedisBackup object is gone, plus what a restore must check: each
RDB's key, size, CRC-64 and SHA-256, and a cluster shard's slot ranges.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from redisbackup.api.faults import FaultCode
from redisbackup.domain.engines import EngineVersion
from redisbackup.domain.faults import StorageFault
from redisbackup.domain.rdb import RdbHeader


class ManifestUnreadable(StorageFault):
    """A manifest.json that is not a manifest: overwritten, damaged, or written by something else. Never produced by a
    crash (the manifest is written whole, last), so the snapshot cannot be trusted and retrying changes nothing."""

    code = FaultCode.STORED_OBJECT_CORRUPT
    transient = False


class _Model(BaseModel):
    # extra="ignore": a manifest written by a newer redisbackup (with more fields) stays readable.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore", defer_build=True
    )


class SourceNode(_Model):
    """The Redis node an RDB was read from."""

    host: str
    port: int
    role: Literal["primary", "replica"] | None = None
    name: str | None = None  # a Pod name, when the operator knows it
    cluster_node_id: str | None = None


class NodeSnapshotRecord(_Model):
    """One stored RDB (ElastiCache's NodeSnapshot, plus integrity data)."""

    cache_node_id: str | None = None  # non-clustered: "0001"
    node_group_id: str | None = None  # clustered: "0001"… by lowest slot
    slots: str | None = None  # clustered: "0-5460" (ElastiCache's NodeGroupConfiguration.Slots)
    cache_size: str = Field(description="RDB size in bytes, as a string like ElastiCache's CacheSize")
    snapshot_create_time: dt.datetime
    object_key: str  # relative to the storage location
    engine: Literal["redis", "valkey"]  # the server's, as INFO says (Valkey 8 writes Redis's RDB format)
    engine_version: str
    rdb_version: int
    # The RDB's signature: REDIS0nnn (Redis, Valkey before 9.0) or VALKEYnnn. Manifests written before this field
    # recorded the signature's engine as `engine`, which is then what it means.
    rdb_format: Literal["redis", "valkey"] | None = None
    crc64: str = Field(pattern=r"^[0-9a-f]{16}$")
    crc64_verified: bool  # False when the server writes no checksum (rdbchecksum no)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    transfer: Literal["diskless", "disk"]
    source_node: SourceNode

    @property
    def id(self) -> str:
        return self.node_group_id or self.cache_node_id or ""

    @property
    def size(self) -> int:
        return int(self.cache_size)

    @property
    def header(self) -> RdbHeader:
        return RdbHeader(self.rdb_format or self.engine, self.rdb_version)

    @property
    def written_by(self) -> EngineVersion:
        return EngineVersion(self.engine, self.engine_version)

    @model_validator(mode="after")
    def _exactly_one_id(self) -> NodeSnapshotRecord:
        if (self.cache_node_id is None) == (self.node_group_id is None):
            raise ValueError("a node snapshot has exactly one of cacheNodeId and nodeGroupId")
        return self


class CopiedFrom(_Model):
    """The snapshot a copy was made from (ElastiCache's CopySnapshot): where its bytes came from."""

    snapshot_name: str
    namespace: str
    uid: str


class Manifest(_Model):
    api_version: Literal["redisbackup.io/v1alpha1"] = "redisbackup.io/v1alpha1"
    kind: Literal["SnapshotManifest"] = "SnapshotManifest"
    snapshot_name: str
    namespace: str
    uid: str
    snapshot_source: Literal["manual"] = "manual"
    cache_cluster_id: str | None = None
    replication_group_id: str | None = None
    engine: Literal["redis", "valkey"]
    engine_version: str
    num_cache_nodes: int | None = None
    num_node_groups: int | None = None
    snapshot_create_time: dt.datetime  # when the first node was asked for its RDB
    complete_time: dt.datetime  # when the last RDB was stored
    tool_version: str
    node_snapshots: tuple[NodeSnapshotRecord, ...]
    tags: dict[str, str] = Field(default_factory=dict)
    copied_from: CopiedFrom | None = None
    # The attempt whose objects this manifest commits (their keys are under <uid>/<attempt>/). None: written before
    # attempts had keys of their own.
    attempt: str | None = None

    @property
    def object_keys(self) -> frozenset[str]:
        """Every stored object this manifest commits (besides itself)."""
        return frozenset(n.object_key for n in self.node_snapshots)

    @property
    def total_size(self) -> int:
        return sum(n.size for n in self.node_snapshots)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if (self.cache_cluster_id is None) == (self.replication_group_id is None):
            raise ValueError("a manifest names exactly one of cacheClusterId and replicationGroupId")
        if not self.node_snapshots:
            raise ValueError("a manifest lists at least one node snapshot")
        return self

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes | str, *, where: str = "manifest.json") -> Manifest:
        """Parse a stored manifest; ManifestUnreadable (StoredObjectCorrupt) names `where` and the first problem."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            at = ".".join(str(part) for part in first["loc"]) or "the document"
            raise ManifestUnreadable(
                f"{where} is not a snapshot manifest ({error.error_count()} problem(s), first at {at}: "
                f"{first['msg']}): the snapshot's objects cannot be checked, so it cannot be trusted. Restore from "
                "another snapshot, or copy the manifest back from a replica of the bucket"
            ) from error
