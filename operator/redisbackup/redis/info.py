"""What a node says about itself in INFO: engine and version, role, memory, whether it is loading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.faults import UnexpectedReply

if TYPE_CHECKING:
    from redisbackup.redis.client import Commands


@dataclass(frozen=True)
class ServerInfo:
    engine: Literal["redis", "valkey"]
    engine_version: str
    role: Literal["primary", "replica"]
    used_memory: int  # bytes; an RDB is usually smaller, so a fair size hint for diskless transfers
    loading: bool
    cluster_enabled: bool
    replication_offset: int
    master_link_up: bool | None  # replicas only
    run_id: str


def parse_info(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def server_info(text: str, *, node: str) -> ServerInfo:
    """Interpret INFO output. Valkey keeps `redis_version` at 7.2.4 for clients and reports itself separately."""
    fields = parse_info(text)
    if "redis_version" not in fields and "valkey_version" not in fields:
        raise UnexpectedReply(f"{node} answered INFO without a version: is it a Redis server?")
    valkey = "valkey_version" in fields or fields.get("server_name") == "valkey"
    role = fields.get("role", "master")
    version = fields.get("valkey_version", fields.get("redis_version", "")) if valkey else fields["redis_version"]
    return ServerInfo(
        engine="valkey" if valkey else "redis",
        engine_version=version,
        role="replica" if role in ("slave", "replica") else "primary",
        used_memory=int(fields.get("used_memory", "0")),
        loading=fields.get("loading") == "1",
        cluster_enabled=fields.get("cluster_enabled") == "1",
        replication_offset=int(fields.get("master_repl_offset", "0")),
        master_link_up=(fields.get("master_link_status") == "up") if role in ("slave", "replica") else None,
        run_id=fields.get("run_id", ""),
    )


async def read_server_info(connection: Commands) -> ServerInfo:
    reply = await connection.call("INFO")
    if not isinstance(reply, bytes):
        raise UnexpectedReply(f"{connection.node} answered INFO with {type(reply).__name__}, not a bulk string")
    return server_info(reply.decode(errors="replace"), node=str(connection.node))


async def describe_node(
    node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts | None = None
) -> ServerInfo:
    """Connect, AUTH, INFO, close: what the operator checks before it plans a snapshot."""
    # Here, not at the top: the replication path reads INFO on its own connection and never needs redis-py.
    from redisbackup.redis.client import RedisClient

    client = await RedisClient.open(node, settings, timeouts)
    try:
        return await read_server_info(client)
    finally:
        await client.close()
