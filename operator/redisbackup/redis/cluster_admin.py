"""Building a Redis Cluster out of fresh nodes: inspecting them, assigning slots, MEET, REPLICATE, waiting.

These are the steps `redis-cli --cluster create` takes, with exact slot ranges instead of an even split:
distinct config epochs first (CLUSTER SET-CONFIG-EPOCH, so no two primaries start with the same epoch), then
ADDSLOTSRANGE, then every node MEETs the first (the others learn each other by gossip), then replicas REPLICATE
their primary once they know it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence

from redisbackup.domain.cluster_restore import Myself, TargetFacts, parse_myself
from redisbackup.domain.faults import RestoreFault
from redisbackup.domain.plan import SlotRange
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import RespError, Timeouts
from redisbackup.redis.faults import UnexpectedReply
from redisbackup.redis.info import parse_info, read_server_info
from redisbackup.redis.keyspace import keyspace

log = logging.getLogger(__name__)

DEFAULT_BUS_OFFSET = 10000  # the cluster bus listens on port + 10000 unless cluster-port says otherwise (7.0+)


async def open_node(address: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts) -> RedisClient:
    return await RedisClient.open(address, settings, timeouts)


async def text_reply(connection: RedisClient, *command: str | int) -> str:
    reply = await connection.call(*command)
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    if isinstance(reply, str):
        return reply
    raise UnexpectedReply(f"{connection.node} answered {' '.join(map(str, command[:2]))} with {reply!r:.80}")


async def myself(connection: RedisClient) -> Myself:
    found = parse_myself(await text_reply(connection, "CLUSTER", "NODES"))
    if found is None:
        raise UnexpectedReply(f"{connection.node} has no 'myself' line in CLUSTER NODES")
    return found


async def cluster_info(connection: RedisClient) -> dict[str, str]:
    return parse_info(await text_reply(connection, "CLUSTER", "INFO"))


async def inspect_target(connection: RedisClient) -> TargetFacts:
    server = await read_server_info(connection)
    keys = sum(db.keys for db in (await keyspace(connection)).values())
    if not server.cluster_enabled:
        return TargetFacts(connection.node, False, keys, engine_version=server.engine_version, engine=server.engine)
    info = await cluster_info(connection)
    node = await myself(connection)
    return TargetFacts(
        connection.node,
        True,
        keys,
        known_nodes=int(info.get("cluster_known_nodes", "1")),
        owned_slots=node.slots,
        node_id=node.node_id,
        bus_port=node.bus_port,
        primary_id=node.primary_id,
        engine_version=server.engine_version,
        engine=server.engine,
    )


async def set_config_epoch(connection: RedisClient, epoch: int) -> None:
    """Distinct epochs for fresh primaries; a node that already has one keeps it (Redis resolves collisions)."""
    reply = await connection.command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    if isinstance(reply, RespError):
        log.info("%s kept its config epoch (%s)", connection.node, reply.message)


async def add_slots(connection: RedisClient, ranges: Sequence[SlotRange], *, by_range: bool = True) -> None:
    """ADDSLOTSRANGE (Redis 7.0+), or every slot named for older servers (`by_range=False`)."""
    if not ranges:
        return
    if by_range:
        command: list[str | int] = ["ADDSLOTSRANGE", *(value for r in ranges for value in (r.first, r.last))]
    else:
        command = ["ADDSLOTS", *(slot for r in ranges for slot in range(r.first, r.last + 1))]
    reply = await connection.command("CLUSTER", *command)
    if isinstance(reply, RespError):
        raise RestoreFault(f"{connection.node} refused CLUSTER {command[0]}: {reply.message}")


async def resolve_ip(address: NodeAddress) -> str:
    """CLUSTER MEET takes an IP address, not a host name."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise RestoreFault(f"cannot resolve {address.host}: {error}", field="--nodes") from error
    return str(infos[0][4][0])


async def meet(connection: RedisClient, ip: str, port: int, bus_port: int | None) -> None:
    command: list[str | int] = ["CLUSTER", "MEET", ip, port]
    if bus_port is not None and bus_port != port + DEFAULT_BUS_OFFSET:  # before 7.0 MEET takes no bus port
        command.append(bus_port)
    reply = await connection.command(*command)
    if isinstance(reply, RespError):
        raise RestoreFault(f"{connection.node} refused CLUSTER MEET {ip} {port}: {reply.message}")


async def replicate(connection: RedisClient, primary_id: str) -> None:
    reply = await connection.command("CLUSTER", "REPLICATE", primary_id)
    if isinstance(reply, RespError):
        raise RestoreFault(f"{connection.node} refused CLUSTER REPLICATE {primary_id[:8]}: {reply.message}")


async def replication(connection: RedisClient) -> dict[str, str]:
    return parse_info(await text_reply(connection, "INFO", "replication"))
