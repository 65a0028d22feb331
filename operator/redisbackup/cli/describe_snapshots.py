"""`redisbackup describe-snapshots`: ElastiCache's DescribeSnapshots over the Kubernetes API.

    redisbackup describe-snapshots [--snapshot-name NAME] [--cache-cluster-id ID | --replication-group-id ID]
                                   [--show-node-group-config] [-n NS | -A]

Prints `{"Snapshots": [{…}, …]}`, oldest first. Names and ids match ignoring case, as in ElastiCache. A
--snapshot-name that matches nothing is SnapshotNotFoundFault (exit 254); a source id that matches nothing gives
an empty list: snapshots outlive their source, so a source that is gone is not an error.
"""

from __future__ import annotations

import argparse
from typing import Any

from redisbackup.cli.aws import add_operation_parser, caller_of, operate
from redisbackup.cli.commands import summary
from redisbackup.domain.automated import ELASTICACHE_SOURCE_FILTER
from redisbackup.elasticache import snapshots
from redisbackup.elasticache.snapshots import SnapshotFilter

OPERATION = "DescribeSnapshots"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "describe-snapshots",
        help=summary("describe-snapshots"),
        description=__doc__ or "",
    )
    parser.add_argument("--snapshot-name", metavar="NAME", help="only this snapshot")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--cache-cluster-id", metavar="ID", help="only snapshots of this node")
    source.add_argument("--replication-group-id", metavar="ID", help="only snapshots of this Redis Cluster")
    parser.add_argument(
        "--snapshot-source",
        choices=tuple(ELASTICACHE_SOURCE_FILTER),
        help="system: only automated backups (a RedisBackupSchedule's); user: only manual ones",
    )
    parser.add_argument(
        "--show-node-group-config",
        action="store_true",
        help="include each node group's NodeGroupConfiguration (its slots)",
    )
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="snapshots of every namespace")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        selection = SnapshotFilter(
            snapshot_name=args.snapshot_name,
            cache_cluster_id=args.cache_cluster_id,
            replication_group_id=args.replication_group_id,
            snapshot_source=args.snapshot_source,
        )
        # Blocking: one request needs no event loop, and the command starts without asyncio.
        return snapshots.describe_snapshots_sync(
            caller_of(args, custom_objects_only=True),
            selection,
            show_node_group_config=args.show_node_group_config,
            all_namespaces=args.all_namespaces,
            paged=False,
        )

    return operate(OPERATION, args, call)
