"""`redisbackup restore`: put a snapshot's RDB into a Redis data directory, before redis-server starts.

    redisbackup restore --snapshot-name NAME [-n NS] --to-dir DIR            through Kubernetes (init container)
    redisbackup restore --from s3://bucket/prefix/NS/NAME/UID --to-dir DIR   without it (disaster recovery)

The RDB is checked against the snapshot's manifest (size, CRC-64, SHA-256) while it streams and only then renamed
to DIR/dump.rdb, so a failed restore leaves no dump.rdb behind. A directory that holds anything is refused unless
--force (replace it: dump.rdb is overwritten and an AOF Redis would load instead is removed) or
--skip-if-not-empty (keep it and exit 0: an init container's restarts never overwrite what Redis wrote since).

Start Redis with `appendonly no` on the first boot from the restored RDB: with appendonly yes and no AOF yet,
Redis starts empty instead of loading dump.rdb. Turn AOF on afterwards with `redis-cli CONFIG SET appendonly yes`
(Redis writes the AOF from the loaded data), then make it permanent in your redis.conf or chart values.

With --engine-version (and --engine, redis by default: ElastiCache's names) the server that will load the RDB
is checked first, as ElastiCache does when it restores into a new cluster: the same engine at the same or a
newer version reads the snapshot; an older one (or Redis given Valkey's RDB format) is refused before anything
changes (RestoreTargetIncompatible, naming both versions). Redis 8.0 reads Valkey 7.2-8.x snapshots (RDB 11).

A cluster snapshot holds one RDB per node group: restore it with `redisbackup restore-cluster`, or one shard's
RDB per node with --node-group ID (--node-group auto: from the Pod's ordinal, see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from redisbackup.cli.commands import summary
from redisbackup.cli.progress import terminal_progress
from redisbackup.cli.running import EXIT_OK, run_async, setup_logging
from redisbackup.cli.snapshot_args import add_snapshot_arguments, locate
from redisbackup.domain.engines import EngineVersion
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.plan import node_id
from redisbackup.domain.rdb import ENGINES
from redisbackup.workflows.restore import RDB_NAME, DirectoryRestore, restore_to_directory

AUTO = "auto"
POD_NAME_ENV = "POD_NAME"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "restore",
        help=summary("restore"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_snapshot_arguments(parser)
    parser.add_argument("--to-dir", required=True, type=Path, metavar="DIR", help="the Redis data directory")
    parser.add_argument(
        "--node-group",
        metavar="ID",
        help="for a cluster snapshot: the node group (shard) whose RDB to restore, e.g. 0002; 'auto' takes it from "
        f"the Pod's ordinal (${POD_NAME_ENV} or the host name: <name>-0 → 0001) and restores nothing for ordinals "
        "beyond the node groups (the replicas)",
    )
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument(
        "--force", action="store_true", help="replace the data of a non-empty directory (dump.rdb, and the AOF)"
    )
    existing.add_argument(
        "--skip-if-not-empty",
        action="store_true",
        help="do nothing (exit 0) when the directory already holds data: restore on the first boot only",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="redis", help="the engine that will load the RDB (with --engine-version)"
    )
    parser.add_argument(
        "--engine-version",
        metavar="VERSION",
        help="its version, e.g. 7.2.4 or (Valkey) 8.1.1: refuse a snapshot it cannot read, before anything changes",
    )
    parser.add_argument("--rdb-name", default=RDB_NAME, metavar="FILE", help=f"Redis's dbfilename (default {RDB_NAME})")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="what to print on success")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    parser.set_defaults(handler=run)


def pod_ordinal(pod_name: str) -> int:
    match = re.fullmatch(r".+-(\d+)", pod_name)
    if match is None:
        raise ValidationFault(
            f"--node-group auto: the Pod name {pod_name!r} does not end in an ordinal (-0, -1, …): name the node "
            "group, or run as a StatefulSet Pod",
            field="--node-group",
        )
    return int(match[1])


def chosen_node(manifest: Manifest, requested: str | None) -> str | None:
    """The node id to restore; None for a single-node snapshot, "" for a Pod with nothing to restore."""
    if requested != AUTO:
        return requested
    if manifest.cache_cluster_id is not None:
        return None
    ordinal = pod_ordinal(os.environ.get(POD_NAME_ENV) or os.uname().nodename)
    groups = len(manifest.node_snapshots)
    return node_id(ordinal + 1) if ordinal < groups else ""


def describe(result: DirectoryRestore, manifest: Manifest) -> dict[str, object]:
    digest = result.digest
    return {
        "snapshotName": manifest.snapshot_name,
        "nodeId": result.record.id,
        "path": str(result.path),
        "restored": digest is not None,
        "size": digest.size if digest else None,
        "crc64": digest.crc64_hex if digest else None,
        "sha256": digest.sha256 if digest else None,
        "rdbVersion": digest.header.version if digest else None,
        "removed": result.removed,
        "keptBecause": result.skipped_because,
    }


def report(result: DirectoryRestore, manifest: Manifest, output: str) -> None:
    if output == "json":
        print(json.dumps(describe(result, manifest), indent=2))
        return
    if result.digest is None:
        print(
            f"{result.path.parent} already holds data ({', '.join(result.skipped_because[:5])}): kept it, restored "
            f'nothing from snapshot "{manifest.snapshot_name}"'
        )
        return
    kind = "node group" if result.record.node_group_id else "node"
    verified = "CRC-64 and SHA-256" if result.record.crc64_verified else "SHA-256"
    print(
        f'restored {kind} {result.record.id} of snapshot "{manifest.snapshot_name}" ({result.digest.size} bytes, '
        f"RDB version {result.digest.header.version}, {verified} verified) to {result.path}"
    )
    if result.removed:
        print(f"removed {', '.join(result.removed)} so that Redis loads the restored RDB")
    print(
        "start redis-server with appendonly no for this first boot (see `redisbackup restore --help`)", file=sys.stderr
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    progress = terminal_progress(args.quiet, "restoring")

    async def main() -> int:
        located = await locate(args, doing="be restored")
        try:
            node = chosen_node(located.manifest, args.node_group)
            if node == "":
                print(
                    f"this Pod's ordinal is beyond the {len(located.manifest.node_snapshots)} node groups of snapshot "
                    f'"{located.manifest.snapshot_name}": a replica, nothing to restore (it copies its primary)'
                )
                return EXIT_OK
            result = await restore_to_directory(
                located.store,
                located.manifest,
                args.to_dir,
                node_id=node,
                force=args.force,
                skip_if_not_empty=args.skip_if_not_empty,
                rdb_name=args.rdb_name,
                progress=progress,
                target=EngineVersion(args.engine, args.engine_version) if args.engine_version else None,
            )
        finally:
            await located.close()
        if progress:
            progress.close()
        report(result, located.manifest, args.output)
        return EXIT_OK

    return run_async("restore", main, progress=progress, interrupted="interrupted; nothing was restored")
