"""The actions this endpoint serves: each decoded request (the model's parameter names) onto one call of the core.

Nothing here decides anything ElastiCache-shaped — `redisbackup.elasticache` does, for the CLI and the console too;
an action only renames parameters, refuses the few ElastiCache has and Kubernetes cannot honour (KmsKeyId), and
hands the core's document back to be rendered by the output shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import ValidationFault
from redisbackup.elasticache import snapshots, tags, workloads
from redisbackup.elasticache.caller import Caller
from redisbackup.elasticache.snapshots import NewSnapshot, SnapshotFilter


@dataclass(frozen=True)
class ActionSettings:
    accept_timeout: float = 20.0
    """How long CreateSnapshot/CopySnapshot wait for the operator to accept or refuse (botocore reads for 60 s)."""


Params = Mapping[str, Any]
Action = Callable[[Caller, Params, ActionSettings], Awaitable[dict[str, Any]]]


def _no_kms(params: Params) -> None:
    if params.get("KmsKeyId"):
        raise ValidationFault(
            "KmsKeyId is not supported: snapshots are stored as their storage location is configured (e.g. the "
            "bucket's own encryption); leave KmsKeyId out",
            code=FaultCode.INVALID_PARAMETER_COMBINATION,
            field="KmsKeyId",
        )


def _tags(params: Params) -> dict[str, str] | None:
    given = params.get("Tags")
    return tags.pairs(given) if given is not None else None


async def create_snapshot(caller: Caller, params: Params, settings: ActionSettings) -> dict[str, Any]:
    _no_kms(params)
    request = NewSnapshot(
        snapshot_name=params["SnapshotName"],
        cache_cluster_id=params.get("CacheClusterId"),
        replication_group_id=params.get("ReplicationGroupId"),
        tags=_tags(params),
    )
    return (await snapshots.create_snapshot(caller, request, accept_timeout=settings.accept_timeout)).document


async def copy_snapshot(caller: Caller, params: Params, settings: ActionSettings) -> dict[str, Any]:
    _no_kms(params)
    request = NewSnapshot(
        snapshot_name=params["TargetSnapshotName"],
        source_snapshot_name=params["SourceSnapshotName"],
        tags=_tags(params),
        # ElastiCache exports a copy to an S3 bucket; here a copy goes to a storage location the operator knows.
        settings={"storage": params.get("TargetBucket")},
    )
    return (await snapshots.copy_snapshot(caller, request, accept_timeout=settings.accept_timeout)).document


async def describe_snapshots(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    selection = SnapshotFilter(
        snapshot_name=params.get("SnapshotName"),
        cache_cluster_id=params.get("CacheClusterId"),
        replication_group_id=params.get("ReplicationGroupId"),
        snapshot_source=params.get("SnapshotSource"),
    )
    return await snapshots.describe_snapshots(
        caller,
        selection,
        show_node_group_config=bool(params.get("ShowNodeGroupConfig")),
        max_records=params.get("MaxRecords"),
        marker=params.get("Marker"),
    )


async def delete_snapshot(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return (await snapshots.delete_snapshot(caller, params["SnapshotName"])).document


async def describe_cache_clusters(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return await workloads.describe_cache_clusters(
        caller,
        cache_cluster_id=params.get("CacheClusterId"),
        show_cache_node_info=bool(params.get("ShowCacheNodeInfo")),
        not_in_replication_groups=bool(params.get("ShowCacheClustersNotInReplicationGroups")),
        max_records=params.get("MaxRecords"),
        marker=params.get("Marker"),
    )


async def describe_replication_groups(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return await workloads.describe_replication_groups(
        caller,
        replication_group_id=params.get("ReplicationGroupId"),
        max_records=params.get("MaxRecords"),
        marker=params.get("Marker"),
    )


async def list_tags_for_resource(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return await tags.list_tags(caller, params["ResourceName"])


async def add_tags_to_resource(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return await tags.add_tags(caller, params["ResourceName"], params["Tags"])


async def remove_tags_from_resource(caller: Caller, params: Params, _: ActionSettings) -> dict[str, Any]:
    return await tags.remove_tags(caller, params["ResourceName"], params["TagKeys"])


ACTIONS: dict[str, Action] = {
    "CreateSnapshot": create_snapshot,
    "CopySnapshot": copy_snapshot,
    "DescribeSnapshots": describe_snapshots,
    "DeleteSnapshot": delete_snapshot,
    "DescribeCacheClusters": describe_cache_clusters,
    "DescribeReplicationGroups": describe_replication_groups,
    "ListTagsForResource": list_tags_for_resource,
    "AddTagsToResource": add_tags_to_resource,
    "RemoveTagsFromResource": remove_tags_from_resource,
}
