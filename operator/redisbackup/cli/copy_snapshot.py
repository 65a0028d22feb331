"""`redisbackup copy-snapshot`: ElastiCache's CopySnapshot over the Kubernetes API.

    redisbackup copy-snapshot --source-snapshot-name bkup-20150515 --target-snapshot-name bkup-copy [-n NS]
                              [--target-location archive] [--tags Key=K,Value=V …] [--wait]

Creates a RedisBackup with spec.sourceSnapshotName: the operator copies the source's stored objects into the new
snapshot's own (in --target-location, a storage location of its configuration, or the default one), checking
every byte against the source's manifest on the way. The copy is independent: deleting the source snapshot
leaves it whole, and the reverse. Prints `{"Snapshot": {…}}` with SnapshotStatus "creating" once the operator
has accepted the request; a source that does not exist is SnapshotNotFoundFault and one not available is
InvalidSnapshotState (exit 254), as in ElastiCache. --wait follows the copy until it is available.
"""

from __future__ import annotations

import argparse
from typing import Any

from redisbackup.api.naming import resolved_identifier
from redisbackup.cli.aws import add_operation_parser, namespace_of, operate
from redisbackup.cli.create_snapshot import parse_tags
from redisbackup.cli.waiting import accept, add_waiting_arguments, create, finish
from redisbackup.domain.elasticache import snapshot_document_from_body

OPERATION = "CopySnapshot"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "copy-snapshot",
        help="copy a snapshot into a new, independent one, as aws elasticache copy-snapshot",
        description=__doc__ or "",
    )
    parser.add_argument("--source-snapshot-name", required=True, metavar="NAME", help="the snapshot to copy")
    parser.add_argument("--target-snapshot-name", required=True, metavar="NAME", help="the name of the copy")
    parser.add_argument(
        "--target-location", metavar="LOCATION", help="storage location of the copy (default: the operator's default)"
    )
    parser.add_argument("--tags", nargs="+", metavar="Key=K,Value=V", help="tags of the copy")
    parser.add_argument("--deletion-policy", choices=("Delete", "Retain"), help="what deleting the copy does")
    parser.add_argument("--verify", action="store_true", help="verify the copy once it is available")
    add_waiting_arguments(parser, "copy")
    parser.set_defaults(handler=run)


def copy_body(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"snapshotName": args.target_snapshot_name, "sourceSnapshotName": args.source_snapshot_name}
    optional = {"storage": args.target_location, "deletionPolicy": args.deletion_policy}
    spec.update({key: value for key, value in optional.items() if value is not None})
    if args.verify:
        spec["verify"] = True
    if (tags := parse_tags(args.tags)) is not None:
        spec["tags"] = tags
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": resolved_identifier(args.target_snapshot_name)},
        "spec": spec,
    }


def run(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        namespace = namespace_of(args)
        body = copy_body(args)
        name = body["metadata"]["name"]
        current = accept(namespace, name, create(namespace, body), args.accept_timeout)
        if args.wait:
            current = finish(namespace, name, current, args.wait_timeout)
        return snapshot_document_from_body(current, show_node_group_config=False)

    return operate(OPERATION, args, call)
