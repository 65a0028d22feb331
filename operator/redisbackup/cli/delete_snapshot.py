"""`redisbackup delete-snapshot`: ElastiCache's DeleteSnapshot over the Kubernetes API.

    redisbackup delete-snapshot --snapshot-name NAME [-n NS] [--wait]

Deletes the RedisBackup; the operator then deletes the stored snapshot (deletionPolicy Delete) or keeps it
(Retain) before the RedisBackup goes. Prints `{"Snapshot": {…, "SnapshotStatus": "deleting"}}`. As in
ElastiCache, a snapshot still being created is refused (InvalidSnapshotState): wait for it, or cancel it with
`kubectl delete`. --wait returns once the RedisBackup is gone.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from redisbackup.cli.aws import add_operation_parser, caller_of, operate
from redisbackup.cli.commands import summary
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache import snapshots

OPERATION = "DeleteSnapshot"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "delete-snapshot",
        help=summary("delete-snapshot"),
        description=__doc__ or "",
    )
    parser.add_argument("--snapshot-name", required=True, metavar="NAME", help="the snapshot to delete")
    parser.add_argument("--wait", action="store_true", help="return once the RedisBackup (and its data) is gone")
    parser.add_argument("--wait-timeout", type=float, default=300.0, metavar="SECONDS", help="limit for --wait")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        caller = caller_of(args)
        answer = asyncio.run(snapshots.delete_snapshot(caller, args.snapshot_name))
        if args.wait:
            name = answer.body["metadata"]["name"]
            left, _ = asyncio.run(snapshots.watch(caller, name, lambda _: False, within=args.wait_timeout))
            if left is not None:
                raise RedisBackupError(
                    f"RedisBackup {caller.namespace}/{name} is still there after {args.wait_timeout:g}s: see its "
                    "DeletionBlocked condition (kubectl describe rb)"
                )
        return answer.document

    return operate(OPERATION, args, call)
