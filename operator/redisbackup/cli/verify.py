"""`redisbackup verify`: prove a stored snapshot can be restored, and record the result in its RedisBackup.

    redisbackup verify --snapshot-name NAME [-n NS]        and record status.verification + condition Verified
    redisbackup verify --from s3://bucket/prefix/NS/NAME/UID   without Kubernetes (nothing recorded)

For every node (shard) of the snapshot, one after the other: the stored RDB is read back and checked against the
manifest (size, CRC-64, SHA-256); a local reader that understands its RDB version and engine is chosen — the
snapshot's own engine and version if present, else the newest of its engine; its `redis-check-rdb` (or
`valkey-check-rdb`) parses it; a throwaway server of that reader (no TCP port, deep payload sanitization) loads it
and the keys are counted; for a Redis Cluster shard every key must hash to the shard's recorded slots. Readers are
found in $REDISBACKUP_RDB_TOOLS (directories, colon-separated), else on PATH (Debian: redis-tools, valkey-tools),
or named with --redis-server/--redis-check-rdb. Needs disk for one RDB and memory for one node's data set at a time.

Passing proves the stored bytes are exactly what the snapshot recorded and that this engine version loads all of
them; it does not prove the data is what your application expects (see the README: "Verifying a snapshot").
When no local reader understands a node's RDB (VerifierTooOld: e.g. a Redis 8 snapshot and only redis-check-rdb
7.0), the result is Unknown, not Failed: nothing is known to be wrong with the snapshot.

Exit status: 0 passed; 1 failed, unknown, or could not be done (the message says which); 2 bad usage; 3 bad
configuration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from redisbackup.cli.commands import summary
from redisbackup.cli.running import EXIT_FAULT, EXIT_OK, run_async, setup_logging
from redisbackup.cli.snapshot_args import add_snapshot_arguments, locate
from redisbackup.domain.verification import VerificationReport, verification_status
from redisbackup.workflows.verify import record_verification, verify_snapshot


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify",
        help=summary("verify"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_snapshot_arguments(parser)
    parser.add_argument(
        "--no-record", dest="record", action="store_false", help="do not write the result into the RedisBackup"
    )
    parser.add_argument("--work-dir", type=Path, metavar="DIR", help="where to put each RDB (default: TMPDIR)")
    parser.add_argument(
        "--redis-server",
        metavar="PATH",
        help="the redis-server (or valkey-server) to load with (default: the reader chosen from REDISBACKUP_RDB_TOOLS "
        "or PATH)",
    )
    parser.add_argument(
        "--redis-check-rdb", metavar="PATH", help="the redis-check-rdb (valkey-check-rdb) to use (default: beside it)"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="how to print the result")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    parser.set_defaults(handler=run)


def text_report(report: VerificationReport) -> str:
    lines = [f'snapshot "{report.snapshot_name}": {report.result} ({report.loader})']
    for node in report.nodes:
        kind = "node group" if node.clustered else "node"
        if node.fault is None:
            databases = ", ".join(f"db{number}: {keys}" for number, keys in sorted(node.keys_per_database.items()))
            lines.append(
                f"  {kind} {node.id}: {node.result}, {node.keys} keys ({node.expires} with a TTL"
                f"{'; ' + databases if len(node.keys_per_database) > 1 else ''}), written by {node.written_by}, "
                f"checked by {node.loader}"
            )
        else:
            lines.append(f"  {kind} {node.id}: {node.result}: {node.fault}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)

    async def main() -> int:
        located = await locate(args, doing="be verified")
        try:
            report = await verify_snapshot(
                located.store,
                located.manifest,
                work_dir=args.work_dir,
                redis_server=args.redis_server,
                redis_check_rdb=args.redis_check_rdb,
            )
        finally:
            await located.close()
        recorded = None
        if located.backup is not None and args.record:
            recorded = await record_verification(located.backup, report)
        if args.output == "json":
            print(json.dumps(verification_status(report), indent=2))
        else:
            print(text_report(report))
            if recorded is not None:
                metadata = recorded["metadata"]
                verdict = {"Passed": "True", "Failed": "False"}.get(report.result, "Unknown")
                print(
                    f"recorded in RedisBackup {metadata['namespace']}/{metadata['name']}: status.verification, "
                    f"condition Verified={verdict}"
                )
        return EXIT_OK if report.passed else EXIT_FAULT

    return run_async("verify", main)
