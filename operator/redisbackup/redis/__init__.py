"""Async access to Redis nodes: ordinary commands through redis-py (client), topology discovery, and RDB
streaming over the replication protocol (connection, replication: the one raw RESP path).

What the rest of the operator uses:

    open_rdb_stream(address, settings, timeouts) -> async context manager yielding an RdbStream
    describe_node(address, settings, timeouts) -> ServerInfo          (INFO: engine, version, role, cluster mode)
    discover_cluster(seed, settings, timeouts) -> ClusterTopology     (CLUSTER SHARDS + slots in migration)
"""

from typing import TYPE_CHECKING, Any

# The names below are looked up on first use, not imported here: importing a submodule runs this file first, and
# redis-py (behind describe_node and discover_cluster) takes ~0.1 s to import, which `redisbackup dump` of a single
# node — the raw replication path only — never needs (its CPU per GB is a figure of `make bench`).
if TYPE_CHECKING:
    from redisbackup.redis.connection import Timeouts
    from redisbackup.redis.faults import (
        CommandNotPermitted,
        ConnectionLost,
        RedisAuthenticationFailed,
        RedisBusy,
        RedisNotReady,
        RedisUnreachable,
        SyncNotPermitted,
        UnexpectedReply,
    )
    from redisbackup.redis.info import ServerInfo, describe_node
    from redisbackup.redis.replication import RdbStream, open_rdb_stream
    from redisbackup.redis.topology import ClusterTopology, NotAClusterNode, discover_cluster

__all__ = [
    "ClusterTopology",
    "CommandNotPermitted",
    "ConnectionLost",
    "NotAClusterNode",
    "RdbStream",
    "RedisAuthenticationFailed",
    "RedisBusy",
    "RedisNotReady",
    "RedisUnreachable",
    "ServerInfo",
    "SyncNotPermitted",
    "Timeouts",
    "UnexpectedReply",
    "describe_node",
    "discover_cluster",
    "open_rdb_stream",
]


_HOMES = {
    "Timeouts": "connection",
    "ServerInfo": "info",
    "describe_node": "info",
    "RdbStream": "replication",
    "open_rdb_stream": "replication",
    "ClusterTopology": "topology",
    "NotAClusterNode": "topology",
    "discover_cluster": "topology",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_HOMES.get(name, 'faults')}"), name)
