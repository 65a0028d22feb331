"""Discovering a Redis Cluster's shards, for planning one RDB per shard (workflows.planning plans with it).

Any reachable node answers CLUSTER SHARDS for the whole cluster (CLUSTER NODES on Redis before 7.0). Slot migrations
are only visible in each primary's own CLUSTER NODES line, so every primary is asked as well (concurrently).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.domain.cluster import (
    ClusterShard,
    SlotMove,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_slot_moves,
)
from redisbackup.domain.faults import SourceFault
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import RespError, Timeouts
from redisbackup.redis.faults import UnexpectedReply, fault_for_error


class NotAClusterNode(SourceFault):
    code = FaultCode.INVALID_PARAMETER_COMBINATION


@dataclass(frozen=True)
class ClusterTopology:
    shards: tuple[ClusterShard, ...]
    moves: tuple[SlotMove, ...]
    state: str  # cluster_state from CLUSTER INFO: "ok" or "fail"


async def _cluster_nodes(node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts | None) -> str:
    client = await RedisClient.open(node, settings, timeouts)
    try:
        reply = await client.call("CLUSTER", "NODES")
    finally:
        await client.close()
    if not isinstance(reply, bytes):
        raise UnexpectedReply(f"{node} answered CLUSTER NODES with {type(reply).__name__}, not text")
    return reply.decode()


async def discover_cluster(
    seed: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts | None = None
) -> ClusterTopology:
    """Ask `seed` for the shards and every primary for slots in migration."""
    client = await RedisClient.open(seed, settings, timeouts)
    try:
        info = await client.command("CLUSTER", "INFO")
        if isinstance(info, RespError):
            if "cluster support disabled" in info.message:
                raise NotAClusterNode(
                    f"{seed} is not a Redis Cluster node (cluster-enabled no): snapshot it as a single node "
                    "(cacheClusterId, or dump without --cluster)",
                    field="replicationGroupId",
                )
            raise fault_for_error(str(seed), "CLUSTER INFO", info.message, settings.credentials)
        shards_reply = await client.command("CLUSTER", "SHARDS")
        if isinstance(shards_reply, RespError) and "subcommand" in shards_reply.message.lower():
            shards_reply = await client.call("CLUSTER", "NODES")  # Redis before 7.0
        elif isinstance(shards_reply, RespError):
            raise fault_for_error(str(seed), "CLUSTER SHARDS", shards_reply.message, settings.credentials)
    finally:
        await client.close()
    if not isinstance(info, bytes) or not isinstance(shards_reply, list | bytes):
        raise UnexpectedReply(f"{seed} gave malformed CLUSTER INFO/SHARDS replies")
    state = next(
        (line.split(":", 1)[1].strip() for line in info.decode().splitlines() if line.startswith("cluster_state:")),
        "unknown",
    )
    if isinstance(shards_reply, bytes):
        shards = parse_cluster_nodes(shards_reply.decode())
    else:
        shards = parse_cluster_shards(shards_reply)
    tls = settings.tls is not None
    primaries = [n.address(tls=tls) for s in shards for n in s.nodes if n.role == "primary" and n.health == "online"]
    texts = await asyncio.gather(*(_cluster_nodes(address, settings, timeouts) for address in primaries))
    moves = tuple(move for text in texts for move in parse_slot_moves(text))
    return ClusterTopology(shards=shards, moves=moves, state=state)
