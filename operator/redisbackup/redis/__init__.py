"""Async access to Redis nodes: ordinary commands through redis-py (client), topology discovery, and RDB
streaming over the replication protocol (connection, replication: the one raw RESP path).

What the rest of the operator uses:

    open_rdb_stream(address, settings, timeouts) -> async context manager yielding an RdbStream
    describe_node(address, settings, timeouts) -> ServerInfo          (INFO: engine, version, role, cluster mode)
    discover_cluster(seed, settings, timeouts) -> ClusterTopology     (CLUSTER SHARDS + slots in migration)
"""

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
