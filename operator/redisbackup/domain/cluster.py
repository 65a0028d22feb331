"""Redis Cluster topology as plain data, and the choice of one node per shard to snapshot.

Input is what the servers say: CLUSTER SHARDS (slots and members of every shard, with role, replication offset
and health; on Redis before 7.0, which lacks it, the same read from CLUSTER NODES without the offsets) and each
primary's own CLUSTER NODES line, the only place Redis shows slots in the middle of a
migration (`[slot->-target]` on the source, `[slot-<-source]` on the target). The plan is refused while any slot
moves or any slot is unserved: an RDB per shard then would miss keys or hold them twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import SourceFault
from redisbackup.domain.plan import SLOT_COUNT, NodeTarget, SlotRange, SnapshotPlan, format_slots, node_id
from redisbackup.domain.source import NodeAddress

Health = Literal["online", "failed", "loading"]


class ReplicationGroupNotReady(SourceFault):
    """The cluster cannot be snapshotted consistently right now (resharding, a shard down, unserved slots)."""

    code = FaultCode.INVALID_REPLICATION_GROUP_STATE
    transient = True


@dataclass(frozen=True)
class ClusterNode:
    node_id: str
    ip: str
    port: int | None  # plain-text port; None when the node only listens with TLS
    tls_port: int | None
    role: Literal["primary", "replica"]
    replication_offset: int
    health: str  # "online", "failed" or "loading" (kept as sent, so a new word from a newer server is visible)
    hostname: str | None = None

    def address(self, *, tls: bool) -> NodeAddress:
        port = (self.tls_port or self.port) if tls else (self.port or self.tls_port)
        if port is None:
            raise ReplicationGroupNotReady(f"cluster node {self.node_id} at {self.ip} announces no port")
        return NodeAddress(self.ip, port)


@dataclass(frozen=True)
class ClusterShard:
    slots: tuple[SlotRange, ...]
    nodes: tuple[ClusterNode, ...]

    @property
    def primary(self) -> ClusterNode | None:
        return next((n for n in self.nodes if n.role == "primary"), None)

    @property
    def lowest_slot(self) -> int:
        return min(r.first for r in self.slots)


@dataclass(frozen=True)
class SlotMove:
    slot: int
    state: Literal["migrating", "importing"]
    node_id: str  # the node whose CLUSTER NODES showed it
    peer_id: str  # the other side of the move


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[object]) -> dict[str, object]:
    """RESP2 sends CLUSTER SHARDS maps as flat [key, value, key, value…] arrays."""
    if isinstance(flat, Mapping):
        return {_text(k): v for k, v in flat.items()}
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def _optional_int(value: object) -> int | None:
    return None if value is None else int(_text(value))


def parse_cluster_shards(reply: Sequence[object]) -> tuple[ClusterShard, ...]:
    """Turn a CLUSTER SHARDS reply (RESP2 arrays or RESP3 maps, bytes or str) into shards."""
    shards = []
    for raw_shard in reply:
        shard = _pairs(raw_shard)  # type: ignore[arg-type]
        bounds = [int(_text(b)) for b in shard.get("slots", [])]  # type: ignore[attr-defined]
        slots = tuple(SlotRange(bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2))
        nodes = []
        for raw_node in shard.get("nodes", []):  # type: ignore[attr-defined]
            node = _pairs(raw_node)
            role = _text(node.get("role", ""))
            nodes.append(
                ClusterNode(
                    node_id=_text(node["id"]),
                    ip=_text(node.get("ip") or node.get("endpoint") or ""),
                    port=_optional_int(node.get("port")),
                    tls_port=_optional_int(node.get("tls-port")),
                    role="primary" if role in ("master", "primary") else "replica",
                    replication_offset=int(_text(node.get("replication-offset", 0))),
                    health=_text(node.get("health", "online")),
                    hostname=_text(node["hostname"]) if node.get("hostname") else None,
                )
            )
        shards.append(ClusterShard(slots=tuple(sorted(slots)), nodes=tuple(nodes)))
    return tuple(shards)


def _node_health(flags: set[str], link: str) -> str:
    if flags & {"fail", "fail?", "handshake", "noaddr"}:
        return "failed"
    return "online" if link == "connected" or "myself" in flags else "failed"


def parse_cluster_nodes(cluster_nodes: str) -> tuple[ClusterShard, ...]:
    """The shards as CLUSTER NODES describes them (Redis before 7.0 has no CLUSTER SHARDS). It tells no replication
    offsets, so every replica counts as equally current (choose_node then takes the lowest node id)."""
    primaries: dict[str, tuple[list[SlotRange], list[ClusterNode]]] = {}
    replicas: list[tuple[str, ClusterNode]] = []
    for line in cluster_nodes.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        node_id, address, flags, primary_id, link = (
            fields[0],
            fields[1],
            set(fields[2].split(",")),
            fields[3],
            fields[7],
        )
        endpoint = address.split(",", 1)[0].split("@", 1)[0]
        ip, _, port = endpoint.rpartition(":")
        role: Literal["primary", "replica"] = "primary" if "master" in flags else "replica"
        node = ClusterNode(node_id, ip, int(port) if port.isdigit() else None, None, role, 0, _node_health(flags, link))
        if role == "replica":
            replicas.append((primary_id, node))
            continue
        slots = []
        for entry in fields[8:]:
            if entry.startswith("["):
                continue  # a slot in migration: parse_slot_moves reports it
            first, _, last = entry.partition("-")
            slots.append(SlotRange(int(first), int(last or first)))
        primaries[node_id] = (slots, [node])
    for primary_id, node in replicas:
        if primary_id in primaries:
            primaries[primary_id][1].append(node)
    return tuple(ClusterShard(slots=tuple(sorted(slots)), nodes=tuple(nodes)) for slots, nodes in primaries.values())


def parse_slot_moves(cluster_nodes: str) -> tuple[SlotMove, ...]:
    """Slots this node is migrating or importing, from its own ("myself") line of CLUSTER NODES."""
    moves = []
    for line in cluster_nodes.splitlines():
        fields = line.split()
        if len(fields) < 8 or "myself" not in fields[2].split(","):
            continue
        for entry in fields[8:]:
            if not entry.startswith("["):
                continue
            body = entry.strip("[]")
            if "->-" in body:
                slot, peer = body.split("->-")
                moves.append(SlotMove(int(slot), "migrating", fields[0], peer))
            elif "-<-" in body:
                slot, peer = body.split("-<-")
                moves.append(SlotMove(int(slot), "importing", fields[0], peer))
    return tuple(moves)


def _unserved(shards: Sequence[ClusterShard]) -> list[SlotRange]:
    covered = sorted(r for s in shards for r in s.slots)
    gaps, expected = [], 0
    for r in covered:
        if r.first > expected:
            gaps.append(SlotRange(expected, r.first - 1))
        expected = max(expected, r.last + 1)
    if expected < SLOT_COUNT:
        gaps.append(SlotRange(expected, SLOT_COUNT - 1))
    return gaps


def choose_node(shard: ClusterShard) -> ClusterNode | None:
    """An online replica with the highest replication offset (ties: lowest node id), else the online primary.

    Reading from a replica keeps the fork and the transfer off the primary that serves the traffic.
    """
    replicas = [n for n in shard.nodes if n.role == "replica" and n.health == "online"]
    if replicas:
        return min(replicas, key=lambda n: (-n.replication_offset, n.node_id))
    primary = shard.primary
    return primary if primary is not None and primary.health == "online" else None


def node_groups(shards: Sequence[ClusterShard]) -> list[tuple[str, ClusterShard]]:
    """The slot-owning shards with their NodeGroupId: 0001… in order of the shard's lowest slot (snapshots and
    DescribeReplicationGroups number them alike)."""
    owning = sorted((s for s in shards if s.slots), key=lambda s: s.lowest_slot)
    return [(node_id(index), shard) for index, shard in enumerate(owning, start=1)]


def plan_cluster(
    source_id: str, shards: Sequence[ClusterShard], moves: Sequence[SlotMove] = (), *, tls: bool = False
) -> SnapshotPlan:
    """One target per slot-owning shard, NodeGroupId 0001… in order of the shard's lowest slot."""
    if moves:
        listed = ", ".join(f"slot {m.slot} {m.state} on {m.node_id[:8]} (peer {m.peer_id[:8]})" for m in moves[:5])
        raise ReplicationGroupNotReady(
            f"replication group {source_id!r} is resharding ({listed}"
            f"{', …' if len(moves) > 5 else ''}): a snapshot now could miss keys or hold them twice. "
            "Wait for the migration to finish (or fix it with redis-cli --cluster fix), then take the snapshot."
        )
    groups = node_groups(shards)
    owning = [shard for _, shard in groups]
    gaps = _unserved(owning)
    if gaps:
        raise ReplicationGroupNotReady(
            f"replication group {source_id!r} does not serve slots {format_slots(tuple(gaps))} "
            "(cluster_state would be fail): a snapshot would be incomplete. Assign every slot, then try again."
        )
    targets = []
    for group_id, shard in groups:
        chosen = choose_node(shard)
        if chosen is None:
            states = ", ".join(f"{n.node_id[:8]} {n.role} {n.health}" for n in shard.nodes) or "no nodes"
            raise ReplicationGroupNotReady(
                f"shard {group_id} of replication group {source_id!r} (slots {format_slots(shard.slots)}) "
                f"has no online node ({states}). Wait for a failover or for the node to recover, then try again."
            )
        targets.append(
            NodeTarget(
                id=group_id,
                address=chosen.address(tls=tls),
                role=chosen.role,
                name=chosen.hostname,
                slots=shard.slots,
                cluster_node_id=chosen.node_id,
            )
        )
    return SnapshotPlan(kind="replicationGroup", source_id=source_id, nodes=tuple(targets))
