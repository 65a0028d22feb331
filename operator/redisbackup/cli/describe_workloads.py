"""`redisbackup describe-cache-clusters` / `describe-replication-groups`: the Redis workloads a snapshot can name,
as ElastiCache lists them (the same core as the ElastiCache API's DescribeCacheClusters and
DescribeReplicationGroups).

    redisbackup describe-cache-clusters [--cache-cluster-id ID] [--show-cache-node-info] [-n NS]
    redisbackup describe-replication-groups [--replication-group-id ID] [-n NS]

Every Redis Pod is a cache cluster (a one-Pod StatefulSet by its own name, as create-snapshot takes it); every
StatefulSet of several Redis Pods, or set of Pods labelled redisbackup.io/replication-group, a replication group.
All pages are followed, as aws does.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redisbackup.cli.aws import add_operation_parser, caller_of, operate
from redisbackup.cli.commands import summary
from redisbackup.elasticache import workloads


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clusters = add_operation_parser(
        subparsers,
        "describe-cache-clusters",
        help=summary("describe-cache-clusters"),
        description=__doc__ or "",
        namespace_help="namespace of the Redis workloads (default: as kubectl)",
    )
    clusters.add_argument("--cache-cluster-id", metavar="ID", help="only this node (CacheClusterNotFound if none)")
    clusters.add_argument("--show-cache-node-info", action="store_true", help="add each node's address and port")
    clusters.add_argument(
        "--show-cache-clusters-not-in-replication-groups", action="store_true", help="only nodes in no group"
    )
    clusters.set_defaults(handler=run_cache_clusters)

    groups = add_operation_parser(
        subparsers,
        "describe-replication-groups",
        help=summary("describe-replication-groups"),
        description=__doc__ or "",
        namespace_help="namespace of the Redis workloads (default: as kubectl)",
    )
    groups.add_argument("--replication-group-id", metavar="ID", help="only this group")
    groups.set_defaults(handler=run_replication_groups)


async def every_page(key: str, page: Callable[[str | None], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """All records of a paged Describe, following Marker as aws's paginator does."""
    records: list[Any] = []
    marker: str | None = None
    while True:
        document = await page(marker)
        records += document[key]
        marker = document.get("Marker")
        if not marker:
            return {key: records}


def run_cache_clusters(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        caller = caller_of(args)
        return asyncio.run(
            every_page(
                "CacheClusters",
                lambda marker: workloads.describe_cache_clusters(
                    caller,
                    cache_cluster_id=args.cache_cluster_id,
                    show_cache_node_info=args.show_cache_node_info,
                    not_in_replication_groups=args.show_cache_clusters_not_in_replication_groups,
                    marker=marker,
                ),
            )
        )

    return operate("DescribeCacheClusters", args, call)


def run_replication_groups(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        caller = caller_of(args)
        return asyncio.run(
            every_page(
                "ReplicationGroups",
                lambda marker: workloads.describe_replication_groups(
                    caller, replication_group_id=args.replication_group_id, marker=marker
                ),
            )
        )

    return operate("DescribeReplicationGroups", args, call)
