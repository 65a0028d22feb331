"""DescribeCacheClusters and DescribeReplicationGroups: the caller's Redis workloads, as ElastiCache shows them.

The rules of what counts as a cache cluster or a replication group are `redisbackup.domain.cache_clusters`; this
module reads the Pods and StatefulSets as the caller, filters and pages — and asks each replication group's Redis
what Kubernetes cannot say (a Redis Cluster's shards and slots, a replicated set's primary): INFO and CLUSTER
SHARDS, read-only, without credentials and with short timeouts. A group whose Redis wants a password, speaks only
TLS or cannot be reached from here is shown from its Kubernetes objects alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import resolved_identifier
from redisbackup.domain.cache_clusters import GroupTopology, RedisWorkloads, cache_cluster, replication_group
from redisbackup.domain.faults import RedisBackupError, SourceFault
from redisbackup.domain.plan import Role
from redisbackup.domain.pods import Body, is_ready, redis_port
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.elasticache import paging
from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import api, workloads
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.info import describe_node
from redisbackup.redis.topology import discover_cluster

# Describing must stay quick even when a node does not answer: seconds, not the snapshot's minutes.
LOOK = Timeouts(connect=1.0, reply=2.0)
SEEDS = 3  # nodes asked, in turn, before a group is shown without its topology


class CacheClusterNotFound(SourceFault):
    code = FaultCode.CACHE_CLUSTER_NOT_FOUND


class ReplicationGroupNotFound(SourceFault):
    code = FaultCode.REPLICATION_GROUP_NOT_FOUND


async def redis_workloads(caller: Caller) -> RedisWorkloads:
    pods, statefulsets = await asyncio.gather(
        api.in_thread(workloads.list_pods, caller.namespace, caller.client),
        api.in_thread(workloads.list_statefulsets, caller.namespace, caller.client),
    )
    return RedisWorkloads.of(pods, statefulsets)


async def describe_cache_clusters(
    caller: Caller,
    *,
    cache_cluster_id: str | None = None,
    show_cache_node_info: bool = False,
    not_in_replication_groups: bool = False,
    max_records: int | None = None,
    marker: str | None = None,
) -> dict[str, Any]:
    """`{"CacheClusters": […], "Marker": …}`: every Redis node the caller can snapshot by CacheClusterId."""
    workloads = await redis_workloads(caller)
    found = workloads.cache_clusters()
    if cache_cluster_id is not None:
        wanted = resolved_identifier(cache_cluster_id)
        found = [entry for entry in found if entry[0] == wanted or entry[1]["metadata"]["name"] == wanted]
        if not found:
            raise CacheClusterNotFound(
                f"CacheCluster not found: {cache_cluster_id} (no Redis Pod, nor StatefulSet running one, of that name "
                f"in namespace {caller.namespace})",
                field="CacheClusterId",
            )
    if not_in_replication_groups:
        found = [entry for entry in found if entry[2] is None]
    chosen, next_marker = paging.page(
        found, lambda entry: (entry[0],), paging=paging.CACHE_CLUSTERS, max_records=max_records, marker=marker
    )
    document: dict[str, Any] = {
        "CacheClusters": [
            cache_cluster(
                cluster_id,
                pod,
                group,
                show_node_info=show_cache_node_info,
                arn=caller.arn("cluster", cluster_id),
                statefulset=workloads.node_statefulset(pod),
            )
            for cluster_id, pod, group in chosen
        ]
    }
    if next_marker is not None:
        document["Marker"] = next_marker
    return document


def _address(pod: Body) -> NodeAddress:
    return NodeAddress(str((pod.get("status") or {}).get("podIP")), redis_port(pod, None))


async def _role(pod: Body) -> tuple[str, Role | None]:
    try:
        info = await describe_node(_address(pod), ConnectionSettings(), LOOK)
    except (RedisBackupError, OSError):
        return str(pod["metadata"]["name"]), None
    return str(pod["metadata"]["name"]), info.role


async def look(pods: list[Body]) -> GroupTopology | None:
    """What the group's Redis says about its shape; None when none of its Ready nodes would say."""
    ready = [pod for pod in pods if is_ready(pod)]
    for seed in ready[:SEEDS]:
        try:
            info = await describe_node(_address(seed), ConnectionSettings(), LOOK)
            if info.cluster_enabled:
                return GroupTopology(shards=(await discover_cluster(_address(seed), ConnectionSettings(), LOOK)).shards)
        except (RedisBackupError, OSError):
            continue
        answers = await asyncio.gather(*(_role(pod) for pod in ready))
        return GroupTopology(roles={name: role for name, role in answers if role is not None})
    return None


async def describe_replication_groups(
    caller: Caller,
    *,
    replication_group_id: str | None = None,
    max_records: int | None = None,
    marker: str | None = None,
) -> dict[str, Any]:
    """`{"ReplicationGroups": […], "Marker": …}`: every group the caller can snapshot by ReplicationGroupId."""
    redis = await redis_workloads(caller)
    if replication_group_id is not None:
        group = redis.group(replication_group_id)
        if group is None:
            raise ReplicationGroupNotFound(
                f"Replication group {replication_group_id} not found (no StatefulSet of that name runs Redis, and no "
                f"Redis Pod is labelled redisbackup.io/replication-group={replication_group_id} in namespace "
                f"{caller.namespace})",
                field="ReplicationGroupId",
            )
        groups = {resolved_identifier(replication_group_id): group}
    else:
        groups = redis.groups()
    chosen, next_marker = paging.page(
        list(groups.items()),
        lambda entry: (entry[0],),
        paging=paging.REPLICATION_GROUPS,
        max_records=max_records,
        marker=marker,
    )
    topologies = await asyncio.gather(*(look(pods) for _, (_, pods) in chosen))
    document: dict[str, Any] = {
        "ReplicationGroups": [
            replication_group(
                group_id, statefulset, pods, arn=caller.arn("replicationgroup", group_id), topology=topology
            )
            for (group_id, (statefulset, pods)), topology in zip(chosen, topologies, strict=True)
        ]
    }
    if next_marker is not None:
        document["Marker"] = next_marker
    return document
