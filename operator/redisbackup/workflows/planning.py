"""From resolved Pods to a snapshot plan: ask the nodes what they are, then choose what to read.

A single node is asked INFO first: a Redis Cluster node named as cacheClusterId is refused (ElastiCache wants the
replicationGroupId for cluster mode enabled). A cluster is asked CLUSTER SHARDS through its Ready Pods; nodes
whose Pod is not Ready are never chosen, and every chosen node is named after its Pod in status and manifest.
`plan_cluster_snapshot` is the one cluster planner: the operator's, and `redisbackup dump --cluster`'s (given
addresses, not Pods).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from redisbackup.domain.cluster import ClusterShard, plan_cluster
from redisbackup.domain.describe import planned_fields
from redisbackup.domain.plan import SnapshotPlan, plan_single_node
from redisbackup.domain.resolution import ResolvedSource, cluster_node_named, not_a_cluster
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.faults import ConnectionLost, RedisUnreachable
from redisbackup.redis.info import ServerInfo, describe_node
from redisbackup.redis.topology import ClusterTopology, NotAClusterNode, discover_cluster

POD_NOT_READY = "pod-not-ready"


@dataclass(frozen=True)
class PlannedSnapshot:
    plan: SnapshotPlan
    automatic_failover: Literal["enabled", "disabled"] | None = None
    server: ServerInfo | None = None  # INFO of a node to be read: engine and version, shown while creating

    def described(self, source: ResolvedSource) -> dict[str, Any]:
        """What status shows once the nodes are chosen (mark_planned): engine, port, the nodes without sizes."""
        return planned_fields(
            self.plan,
            engine=self.server.engine if self.server else None,
            engine_version=self.server.engine_version if self.server else None,
            pods={pod.name: pod for pod in source.pods},
            automatic_failover=self.automatic_failover,
        )


async def plan_snapshot(
    source: ResolvedSource, namespace: str, connection: ConnectionSettings, timeouts: Timeouts
) -> PlannedSnapshot:
    if source.kind == "cacheCluster":
        return await _plan_single(source, namespace, connection, timeouts)
    return await _plan_cluster(source, namespace, connection, timeouts)


async def _plan_single(
    source: ResolvedSource, namespace: str, connection: ConnectionSettings, timeouts: Timeouts
) -> PlannedSnapshot:
    pod = source.pods[0]
    assert pod.ip is not None, "resolution only returns Ready pods, which have an IP"
    address = NodeAddress(pod.ip, pod.port)
    server = await describe_node(address, connection, timeouts)
    if server.cluster_enabled:
        raise cluster_node_named(source, namespace)
    return PlannedSnapshot(plan_single_node(source.source_id, address, name=pod.name), server=server)


def _without_unready(shards: tuple[ClusterShard, ...], unready: Collection[str]) -> tuple[ClusterShard, ...]:
    """Mark the nodes at `unready` addresses (Pods that are not Ready), so the plan never picks them."""
    if not unready:
        return shards
    return tuple(
        dataclasses.replace(
            shard,
            nodes=tuple(
                dataclasses.replace(node, health=POD_NOT_READY) if node.ip in unready else node for node in shard.nodes
            ),
        )
        for shard in shards
    )


async def _plan_cluster(
    source: ResolvedSource, namespace: str, connection: ConnectionSettings, timeouts: Timeouts
) -> PlannedSnapshot:
    seeds = [NodeAddress(pod.ip, pod.port) for pod in source.pods if pod.ip is not None]
    try:
        return await plan_cluster_snapshot(
            source.source_id,
            seeds,
            connection,
            timeouts,
            unready={pod.ip for pod in source.unready if pod.ip},
            name_of=lambda ip: pod.name if (pod := source.pod_at(ip)) else None,
        )
    except NotAClusterNode:
        raise not_a_cluster(source, namespace) from None


async def plan_cluster_snapshot(
    source_id: str,
    seeds: Sequence[NodeAddress],
    connection: ConnectionSettings,
    timeouts: Timeouts | None = None,
    *,
    unready: Collection[str] = (),
    name_of: Callable[[str], str | None] = lambda ip: None,
) -> PlannedSnapshot:
    """One node per shard of the Redis Cluster the first answering seed belongs to (see domain.cluster).

    `unready`: addresses never to read from (Pods that are not Ready); `name_of`: the name to record for a node
    at an address (its Pod's), if any. The operator and `redisbackup dump --cluster` both plan with this.
    """
    topology = await _discover(seeds, connection, timeouts)
    shards = _without_unready(topology.shards, unready)
    plan = plan_cluster(source_id, shards, topology.moves, tls=connection.tls is not None)
    named = tuple(
        dataclasses.replace(target, name=name) if (name := name_of(target.address.host)) else target
        for target in plan.nodes
    )
    owning = [shard for shard in shards if shard.slots]
    failover: Literal["enabled", "disabled"] = (
        "enabled" if owning and all(len(shard.nodes) > 1 for shard in owning) else "disabled"
    )
    server = await describe_node(plan.nodes[0].address, connection, timeouts) if plan.nodes else None
    return PlannedSnapshot(dataclasses.replace(plan, nodes=named), failover, server)


async def _discover(
    seeds: Sequence[NodeAddress], connection: ConnectionSettings, timeouts: Timeouts | None
) -> ClusterTopology:
    """The topology as the first seed that answers sees it (NotAClusterNode when that seed is no cluster node)."""
    last_error: RedisUnreachable | ConnectionLost | None = None
    for seed in seeds:
        try:
            return await discover_cluster(seed, connection, timeouts)
        except (RedisUnreachable, ConnectionLost) as error:
            last_error = error  # ask the next seed
    if last_error is None:
        raise ValueError("no seeds to discover the cluster through")
    raise last_error
