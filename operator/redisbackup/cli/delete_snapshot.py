"""`redisbackup delete-snapshot`: ElastiCache's DeleteSnapshot over the Kubernetes API.

    redisbackup delete-snapshot --snapshot-name NAME [-n NS] [--wait]

Deletes the RedisBackup; the operator then deletes the stored snapshot (deletionPolicy Delete) or keeps it
(Retain) before the RedisBackup goes. Prints `{"Snapshot": {…, "SnapshotStatus": "deleting"}}`. As in
ElastiCache, a snapshot still being created is refused (InvalidSnapshotState): wait for it, or cancel it with
`kubectl delete`. --wait returns once the RedisBackup is gone.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from redisbackup.cli.aws import add_operation_parser, namespace_of, operate
from redisbackup.cli.waiting import POLL_SECONDS
from redisbackup.domain import acceptance
from redisbackup.domain.elasticache import snapshot_document_from_body
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s.redisbackups import delete_backup, find_backup, get_backup
from redisbackup.workflows.locate import InvalidSnapshotState

OPERATION = "DeleteSnapshot"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "delete-snapshot",
        help="delete a snapshot (its RedisBackup and stored data), as aws elasticache delete-snapshot",
        description=__doc__ or "",
    )
    parser.add_argument("--snapshot-name", required=True, metavar="NAME", help="the snapshot to delete")
    parser.add_argument("--wait", action="store_true", help="return once the RedisBackup (and its data) is gone")
    parser.add_argument("--wait-timeout", type=float, default=300.0, metavar="SECONDS", help="limit for --wait")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    def call() -> dict[str, Any]:
        namespace = namespace_of(args)
        body = find_backup(namespace, args.snapshot_name)
        name = body["metadata"]["name"]
        if acceptance.phase(body) == "creating":
            raise InvalidSnapshotState(
                f"Snapshot {args.snapshot_name} is creating: it can be deleted once it is available or failed. To "
                f"cancel it, delete the RedisBackup itself: kubectl delete -n {namespace} redisbackup/{name}",
                field="--snapshot-name",
            )
        deleted = delete_backup(namespace, name)
        # The finalizer keeps it while the operator releases the data; if it is gone already, show it as it was.
        current = deleted if deleted.get("kind") == "RedisBackup" else body
        document = snapshot_document_from_body(current, show_node_group_config=False)
        document["Snapshot"]["SnapshotStatus"] = "deleting"
        if args.wait:
            deadline = time.monotonic() + args.wait_timeout
            while get_backup(namespace, name) is not None:
                if time.monotonic() > deadline:
                    raise RedisBackupError(
                        f"RedisBackup {namespace}/{name} is still there after {args.wait_timeout:g}s: see its "
                        "DeletionBlocked condition (kubectl describe rb)"
                    )
                time.sleep(POLL_SECONDS)
        return document

    return operate(OPERATION, args, call)
