"""Restoring a Redis Cluster snapshot into new nodes: which node gets which shard, and whether the nodes are fit.

The snapshot has N node groups (shards), each with its RDB and its slot ranges. The nodes given are used in
order: the first N become the primaries of node groups 0001…N, each assigned exactly the slots its node group
owned when the snapshot was taken; the rest become replicas, spread over the node groups in turn (node N+1
replicates 0001, N+2 replicates 0002, …), K per node group.

A node is fit when it runs in cluster mode, knows no other node, owns no slot and holds no key. With `preloaded`
(the init-container route: each primary loaded its shard's RDB at boot) a primary may hold keys, and then owns
the slots of those keys — Redis claims them at boot — which must all lie within its node group's slots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.domain.engines import EngineVersion, check_restore_target
from redisbackup.domain.faults import RestoreFault, ValidationFault
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord
from redisbackup.domain.plan import SlotRange, format_slots
from redisbackup.domain.rdb import Engine
from redisbackup.domain.slots import SlotSet, parse_slots
from redisbackup.domain.source import NodeAddress


class TargetNotClustered(RestoreFault):
    code = FaultCode.RESTORE_TARGET_NOT_CLUSTERED


class TargetNotEmpty(RestoreFault):
    code = FaultCode.RESTORE_TARGET_NOT_EMPTY


class TargetInCluster(RestoreFault):
    code = FaultCode.RESTORE_TARGET_IN_CLUSTER


@dataclass(frozen=True)
class TargetFacts:
    """What a target node says about itself before anything is changed."""

    address: NodeAddress
    cluster_enabled: bool
    keys: int
    known_nodes: int = 1
    owned_slots: tuple[SlotRange, ...] = ()
    node_id: str = ""
    bus_port: int | None = None
    engine_version: str = ""
    primary_id: str | None = None  # when it is a replica: the node id of its primary
    engine: Engine = "redis"

    @property
    def release(self) -> EngineVersion:
        return EngineVersion(self.engine, self.engine_version)


@dataclass(frozen=True)
class PrimaryAssignment:
    address: NodeAddress
    record: NodeSnapshotRecord
    slots: tuple[SlotRange, ...]

    @property
    def node_group_id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class ReplicaAssignment:
    address: NodeAddress
    node_group_id: str
    primary: NodeAddress


@dataclass(frozen=True)
class ClusterRestorePlan:
    snapshot_name: str
    primaries: tuple[PrimaryAssignment, ...]
    replicas: tuple[ReplicaAssignment, ...]

    @property
    def addresses(self) -> tuple[NodeAddress, ...]:
        return tuple(p.address for p in self.primaries) + tuple(r.address for r in self.replicas)

    def record_for(self, address: NodeAddress) -> NodeSnapshotRecord:
        """The node group's record whose data `address` will hold (a replica: its primary's)."""
        by_group = {p.node_group_id: p.record for p in self.primaries}
        for primary in self.primaries:
            if primary.address == address:
                return primary.record
        return by_group[next(r.node_group_id for r in self.replicas if r.address == address)]


def check_versions(plan: ClusterRestorePlan, facts: dict[NodeAddress, TargetFacts]) -> None:
    """Every node must read its node group's RDB (a replica too: it loads its primary's data as an RDB)."""
    for address in plan.addresses:
        record = plan.record_for(address)
        check_restore_target(record.header, record.written_by, facts[address].release, str(address))


def plan_cluster_restore(
    manifest: Manifest, nodes: Sequence[NodeAddress], replicas_per_node_group: int = 0
) -> ClusterRestorePlan:
    """Assign the nodes to node groups; InvalidParameterCombination when their number does not fit."""
    if manifest.replication_group_id is None:
        raise ValidationFault(
            f'snapshot "{manifest.snapshot_name}" is of a single node (cacheClusterId '
            f'"{manifest.cache_cluster_id}"), not of a Redis Cluster: restore it with `redisbackup restore`',
            code=FaultCode.INVALID_PARAMETER_COMBINATION,
            field="--snapshot-name",
        )
    if replicas_per_node_group < 0:
        raise ValidationFault("--replicas must be 0 or more", field="--replicas")
    groups = len(manifest.node_snapshots)
    wanted = groups * (1 + replicas_per_node_group)
    if len(set(nodes)) != len(nodes):
        raise ValidationFault("--nodes names a node twice: every node must be a different server", field="--nodes")
    if len(nodes) != wanted:
        each = f" plus {replicas_per_node_group} replica(s) each" if replicas_per_node_group else ""
        raise ValidationFault(
            f'snapshot "{manifest.snapshot_name}" has {groups} node groups, so it needs {wanted} nodes ({groups} '
            f"primaries{each}); --nodes names {len(nodes)}. Give exactly {wanted}, or change --replicas",
            code=FaultCode.INVALID_PARAMETER_COMBINATION,
            field="--nodes",
        )
    primaries = tuple(
        PrimaryAssignment(address, record, parse_slots(record.slots or ""))
        for address, record in zip(nodes[:groups], manifest.node_snapshots, strict=True)
    )
    replicas = tuple(
        ReplicaAssignment(address, primaries[index % groups].node_group_id, primaries[index % groups].address)
        for index, address in enumerate(nodes[groups:])
    )
    return ClusterRestorePlan(manifest.snapshot_name, primaries, replicas)


def check_target(facts: TargetFacts, assignment: PrimaryAssignment | None, *, preloaded: bool) -> None:
    """Refuse a node that is not a fresh cluster node (or, preloaded, whose keys are not its node group's)."""
    node = str(facts.address)
    if not facts.cluster_enabled:
        raise TargetNotClustered(
            f"{node} does not run in cluster mode (cluster-enabled no): start the new nodes with "
            "cluster-enabled yes, then run restore-cluster again",
            field="--nodes",
        )
    if facts.known_nodes > 1:
        raise TargetInCluster(
            f"{node} already knows {facts.known_nodes - 1} other cluster node(s): it belongs to a cluster. Restore "
            "into fresh nodes (or empty this one with FLUSHALL and CLUSTER RESET HARD if its data may go)",
            field="--nodes",
        )
    may_hold_keys = preloaded and assignment is not None
    if facts.keys and not may_hold_keys:
        hint = (
            "a replica must start empty (it copies its primary)"
            if preloaded
            else "restore into empty nodes, or use --preloaded if the primaries loaded their shard's RDB at boot"
        )
        raise TargetNotEmpty(f"{node} holds {facts.keys} keys: {hint}", field="--nodes")
    if not facts.owned_slots:
        return
    if not may_hold_keys:
        raise TargetInCluster(
            f"{node} already owns slots {format_slots(facts.owned_slots)}: it was part of a cluster. Restore into "
            "fresh nodes (or CLUSTER RESET HARD this one)",
            field="--nodes",
        )
    assert assignment is not None
    owned = SlotSet(assignment.slots)
    stray = [r for r in facts.owned_slots if any(slot not in owned for slot in range(r.first, r.last + 1))]
    if stray:
        raise TargetInCluster(
            f"{node} owns slots {format_slots(tuple(stray))} outside node group {assignment.node_group_id}'s "
            f"{format_slots(assignment.slots)}: it loaded another shard's RDB, or was part of another cluster. "
            "The first nodes given must be the primaries of node groups 0001, 0002, … in that order",
            field="--nodes",
        )


def missing_slots(assignment: PrimaryAssignment, owned: tuple[SlotRange, ...]) -> tuple[SlotRange, ...]:
    """The node group's ranges minus what the node already owns (all of them for a fresh node)."""
    have = SlotSet(owned)
    result: list[SlotRange] = []
    for bounds in assignment.slots:
        start = None
        for slot in range(bounds.first, bounds.last + 2):
            inside = slot <= bounds.last and slot not in have
            if inside and start is None:
                start = slot
            elif not inside and start is not None:
                result.append(SlotRange(start, slot - 1))
                start = None
    return tuple(result)


@dataclass(frozen=True)
class Myself:
    """A node's own line of CLUSTER NODES: its id, cluster bus port, the slots it owns, its primary if a replica."""

    node_id: str
    bus_port: int | None
    slots: tuple[SlotRange, ...]
    primary_id: str | None = None


def parse_myself(cluster_nodes: str) -> Myself | None:
    """`<id> <ip:port@cport[,hostname]> myself,master - 0 0 0 connected 0-5 7 …` → Myself (None: no such line)."""
    for line in cluster_nodes.splitlines():
        fields = line.split()
        if len(fields) < 8 or "myself" not in fields[2].split(","):
            continue
        address = fields[1].split(",", 1)[0]
        bus = address.partition("@")[2]
        slots = []
        for entry in fields[8:]:
            if entry.startswith("["):  # a slot being migrated or imported, not owned
                continue
            first, _, last = entry.partition("-")
            slots.append(SlotRange(int(first), int(last or first)))
        primary = fields[3] if "slave" in fields[2].split(",") and fields[3] != "-" else None
        return Myself(fields[0], int(bus) if bus.isdigit() else None, tuple(sorted(slots)), primary)
    return None


def already_restored(plan: ClusterRestorePlan, facts: dict[NodeAddress, TargetFacts]) -> bool:
    """Whether these nodes already are the cluster the plan describes (a repeated run, e.g. a Job's retry after
    success): all in one cluster, each primary owning exactly its node group's slots, each replica following its
    primary. Anything in between is not taken for done."""
    total = len(plan.addresses)
    if any(not f.cluster_enabled or f.known_nodes != total for f in facts.values()):
        return False
    if any(facts[p.address].owned_slots != p.slots for p in plan.primaries):
        return False
    return all(facts[r.address].primary_id == facts[r.primary].node_id for r in plan.replicas)
