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

from redisbackup.cli.aws import add_operation_parser, caller_of, operate
from redisbackup.cli.commands import summary
from redisbackup.cli.create_snapshot import parse_tags, settings_of
from redisbackup.cli.waiting import add_waiting_arguments, submit
from redisbackup.elasticache import snapshots
from redisbackup.elasticache.snapshots import NewSnapshot

OPERATION = "CopySnapshot"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "copy-snapshot",
        help=summary("copy-snapshot"),
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


def copy_request(args: argparse.Namespace) -> NewSnapshot:
    return NewSnapshot(
        snapshot_name=args.target_snapshot_name,
        source_snapshot_name=args.source_snapshot_name,
        tags=parse_tags(args.tags),
        settings=settings_of(args, storage=args.target_location),
    )


def run(args: argparse.Namespace) -> int:
    return operate(OPERATION, args, lambda: submit(caller_of(args), copy_request(args), args, snapshots.copy_snapshot))
