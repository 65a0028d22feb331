"""`redisbackup describe-snapshots`: ElastiCache's DescribeSnapshots over the Kubernetes API.

    redisbackup describe-snapshots [--snapshot-name NAME] [--cache-cluster-id ID | --replication-group-id ID]
                                   [--snapshot-source system|user] [--show-node-group-config] [-n NS | -A]

Prints `{"Snapshots": [{…}, …]}`, oldest first. Names and ids match ignoring case, as in ElastiCache. A
--snapshot-name that matches nothing is SnapshotNotFoundFault (exit 254); a source id that matches nothing gives
an empty list: snapshots outlive their source, so a source that is gone is not an error.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from redisbackup.api.naming import resolved_identifier
from redisbackup.cli.aws import add_operation_parser, namespace_of, operate
from redisbackup.domain.automated import ELASTICACHE_SOURCE_FILTER, matches_source_filter
from redisbackup.domain.elasticache import snapshot_document_from_body
from redisbackup.k8s.redisbackups import SnapshotNotFound, list_backups

OPERATION = "DescribeSnapshots"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "describe-snapshots",
        help="list snapshots (RedisBackups), as aws elasticache describe-snapshots",
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


def _matches(value: object, wanted: str | None) -> bool:
    return wanted is None or (isinstance(value, str) and resolved_identifier(value) == resolved_identifier(wanted))


def selected(body: Mapping[str, Any], args: argparse.Namespace) -> bool:
    spec = body.get("spec") or {}
    return (
        _matches(spec.get("snapshotName"), args.snapshot_name)
        and _matches(spec.get("cacheClusterId"), args.cache_cluster_id)
        and _matches(spec.get("replicationGroupId"), args.replication_group_id)
        and (args.cache_cluster_id is None or "cacheClusterId" in spec)
        and (args.replication_group_id is None or "replicationGroupId" in spec)
        and matches_source_filter(body, args.snapshot_source)
    )


def run(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        namespace = namespace_of(args)
        backups = [b for b in list_backups(None if args.all_namespaces else namespace) if selected(b, args)]
        if args.snapshot_name is not None and not backups:
            where = "any namespace" if args.all_namespaces else f"namespace {namespace}"
            raise SnapshotNotFound(f"Snapshot {args.snapshot_name} not found in {where}", field="--snapshot-name")
        show = args.show_node_group_config
        return {"Snapshots": [snapshot_document_from_body(b, show_node_group_config=show)["Snapshot"] for b in backups]}

    return operate(OPERATION, args, call)
