"""`redisbackup dump`: snapshot a Redis node or cluster into a directory or S3, without Kubernetes.

    redisbackup dump --redis redis://[user:password@]host:port [--tls --ca FILE] [--cluster]
                     --to file:///DIR | s3://BUCKET/PREFIX [--snapshot-name NAME] [--endpoint-url URL]

The same library code the operator runs (workflows.take_snapshot). Prints the manifest as JSON on success; on
failure prints the fault code and message on stderr and exits 1. The password may also come from REDISCLI_AUTH
(as for redis-cli), which keeps it out of the process list; S3 credentials come from the usual AWS variables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
import uuid
from urllib.parse import unquote, urlsplit

from redisbackup.api.naming import SNAPSHOT_NAME, NameKind
from redisbackup.cli.commands import summary
from redisbackup.cli.options import add_s3_arguments, add_tls_arguments, s3_options, tls_settings
from redisbackup.cli.progress import ProgressLine, terminal_progress
from redisbackup.domain.faults import RedisBackupError, ValidationFault
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.plan import SnapshotPlan, plan_single_node
from redisbackup.domain.source import ConnectionSettings, NodeAddress, RedisCredentials
from redisbackup.redis.connection import Timeouts
from redisbackup.storage.location import open_store
from redisbackup.workflows.snapshot import take_snapshot

# ElastiCache's snapshot naming rules (redisbackup.api.naming), reported against the option users typed.
SNAPSHOT_NAME_OPTION = NameKind(field="--snapshot-name", what=SNAPSHOT_NAME.what, max_length=SNAPSHOT_NAME.max_length)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dump",
        help=summary("dump"),
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--redis", required=True, metavar="URL", help="redis://[user:password@]host:port (rediss:// for TLS)"
    )
    parser.add_argument("--cluster", action="store_true", help="the node is part of a Redis Cluster: one RDB per shard")
    parser.add_argument("--to", required=True, metavar="LOCATION", help="file:///DIR or s3://BUCKET/PREFIX")
    parser.add_argument("--snapshot-name", metavar="NAME", help="default: dump-YYYYMMDD-HHMMSS")
    parser.add_argument("--namespace", default="default", help="first component of the object keys (default: default)")
    parser.add_argument("--source-id", metavar="ID", help="cacheClusterId/replicationGroupId recorded in the manifest")
    parser.add_argument("--first-byte-timeout", type=float, default=Timeouts.first_byte, metavar="SECONDS")
    parser.add_argument("--stall-timeout", type=float, default=Timeouts.stall, metavar="SECONDS")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    add_tls_arguments(parser)
    add_s3_arguments(parser)
    parser.set_defaults(handler=run)


def parse_redis_url(url: str, *, password_env: str | None = None) -> tuple[NodeAddress, RedisCredentials, bool]:
    """redis://[user:password@]host[:port] → address, credentials, TLS (rediss://)."""
    parts = urlsplit(url if "://" in url else f"redis://{url}")
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValidationFault(
            f"--redis {url!r} is not a Redis URL: use redis://[user:password@]host:port", field="--redis"
        )
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValidationFault(f"--redis {url!r} has an invalid port", field="--redis") from None
    password = unquote(parts.password) if parts.password is not None else password_env
    username = unquote(parts.username) if parts.username else None
    if parts.password is None and username is not None and password_env is None:
        # redis://secret@host: a lone userinfo is the password, as redis-cli -u reads it.
        username, password = None, username
    return NodeAddress(parts.hostname, port), RedisCredentials(username, password), parts.scheme == "rediss"


async def dump(args: argparse.Namespace, progress: ProgressLine | None) -> Manifest:
    address, credentials, rediss = parse_redis_url(args.redis, password_env=os.environ.get("REDISCLI_AUTH"))
    settings = ConnectionSettings(credentials=credentials, tls=tls_settings(args, implied=rediss))
    timeouts = Timeouts(first_byte=args.first_byte_timeout, stall=args.stall_timeout)
    now = dt.datetime.now(dt.UTC)
    name = args.snapshot_name or now.strftime("dump-%Y%m%d-%H%M%S")
    broken = SNAPSHOT_NAME_OPTION.broken_rules(name)
    if broken:
        raise ValidationFault("; ".join(SNAPSHOT_NAME_OPTION.message(rule) for rule in broken), field="--snapshot-name")
    source_id = args.source_id or f"{address.host}-{address.port}".replace(":", "-")
    location = SnapshotLocation(namespace=args.namespace, snapshot_name=name, uid=str(uuid.uuid4()))
    plan: SnapshotPlan
    if args.cluster:
        # Only here: cluster planning talks to the nodes through redis-py, which a single node's dump never imports.
        from redisbackup.workflows.planning import plan_cluster_snapshot

        plan = (await plan_cluster_snapshot(source_id, [address], settings, timeouts)).plan
    else:
        plan = plan_single_node(source_id, address)
    store = open_store(args.to, **s3_options(args))
    try:
        return await take_snapshot(plan, store, location, settings, progress=progress, timeouts=timeouts)
    finally:
        await store.close()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    progress = terminal_progress(args.quiet)
    try:
        manifest = asyncio.run(dump(args, progress))
    except RedisBackupError as fault:
        if progress:
            progress.close()
        print(f"redisbackup dump: {fault}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if progress:
            progress.close()
        print("redisbackup dump: interrupted; nothing was stored", file=sys.stderr)
        return 130
    if progress:
        progress.close()
    sys.stdout.write(manifest.to_json().decode())
    return 0
