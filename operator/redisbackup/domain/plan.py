"""Which node(s) a snapshot reads: the plan, as plain data the operator builds from Pods or the CLI from a URL.

ElastiCache names what it snapshots by CacheNodeId ("0001", a node of a non-clustered cluster) or NodeGroupId
("0001", "0002"… for the shards of a clustered replication group); the plan uses the same four-digit ids and the
manifest and object keys follow them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redisbackup.domain.source import NodeAddress

SourceKind = Literal["cacheCluster", "replicationGroup"]
Role = Literal["primary", "replica"]

SLOT_COUNT = 16384


@dataclass(frozen=True, order=True)
class SlotRange:
    first: int
    last: int  # inclusive, as Redis prints them

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def format_slots(ranges: tuple[SlotRange, ...]) -> str:
    """ElastiCache's NodeGroupConfiguration.Slots shape: "0-5460" or "0-100,200-300"."""
    return ",".join(str(r) for r in ranges)


def node_id(index: int) -> str:
    """The 1-based four-digit id ElastiCache gives nodes and node groups: 1 → "0001"."""
    return f"{index:04d}"


@dataclass(frozen=True)
class NodeTarget:
    """One node to read an RDB from."""

    id: str  # "0001": CacheNodeId for a single node, NodeGroupId for a cluster shard
    address: NodeAddress
    role: Role | None = None  # None: not known yet (the node reports it when read)
    name: str | None = None  # what the user knows it by (a Pod name); defaults to the address in messages
    slots: tuple[SlotRange, ...] = ()  # cluster shards only
    cluster_node_id: str | None = None  # CLUSTER MYID, cluster shards only

    @property
    def label(self) -> str:
        return f"{self.name} ({self.address})" if self.name else str(self.address)


@dataclass(frozen=True)
class SnapshotPlan:
    kind: SourceKind
    source_id: str  # cacheClusterId or replicationGroupId, as the user wrote it
    nodes: tuple[NodeTarget, ...]

    @property
    def is_cluster(self) -> bool:
        return self.kind == "replicationGroup"


def plan_single_node(source_id: str, address: NodeAddress, *, name: str | None = None) -> SnapshotPlan:
    """A snapshot of one node (ElastiCache's --cache-cluster-id): CacheNodeId 0001."""
    return SnapshotPlan(
        kind="cacheCluster", source_id=source_id, nodes=(NodeTarget(id=node_id(1), address=address, name=name),)
    )
