"""`redisbackup create-snapshot`: ElastiCache's CreateSnapshot over the Kubernetes API (a new RedisBackup).

    redisbackup create-snapshot --snapshot-name bkup-20150515 --cache-cluster-id myNonClusteredRedis-001
    redisbackup create-snapshot --snapshot-name bkup-20150515 --replication-group-id myClusteredRedis --wait

Prints `{"Snapshot": {…}}` with SnapshotStatus "creating", as aws does. Like ElastiCache's API it answers once
the request is accepted: the command waits (up to --accept-timeout) until the operator has found the source and
chosen the nodes to read — the answer then shows the engine, port and nodes — or refused it (the source does not
exist, names a cluster node …), in which case the RedisBackup is deleted again and the fault printed as
`An error occurred (CacheClusterNotFound) when calling the CreateSnapshot operation: …` (exit 254).
--wait waits on until the snapshot is available (a progress bar on a terminal) and prints it then.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from redisbackup.cli.aws import add_operation_parser, caller_of, operate
from redisbackup.cli.commands import summary
from redisbackup.cli.waiting import add_waiting_arguments, submit
from redisbackup.domain.faults import ValidationFault
from redisbackup.elasticache.snapshots import NewSnapshot

OPERATION = "CreateSnapshot"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_operation_parser(
        subparsers,
        "create-snapshot",
        help=summary("create-snapshot"),
        description=__doc__ or "",
    )
    parser.add_argument("--snapshot-name", required=True, metavar="NAME", help="name of the snapshot to create")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cache-cluster-id", metavar="ID", help="a single Redis node: a Pod or one-Pod StatefulSet")
    source.add_argument("--replication-group-id", metavar="ID", help="a Redis Cluster: its StatefulSet or label")
    parser.add_argument("--tags", nargs="+", metavar="Key=K,Value=V", help="tags, as aws's shorthand or JSON")
    spec = parser.add_argument_group("RedisBackup settings ElastiCache has no flag for")
    spec.add_argument("--source-namespace", metavar="NS", help="the namespace of the Redis (default: the backup's)")
    spec.add_argument("--auth-secret", metavar="NAME[/KEY]", help="Secret with the Redis password (key: password)")
    spec.add_argument("--auth-username", metavar="USER", help="ACL user for the password")
    spec.add_argument("--tls", action="store_true", help="connect to Redis with TLS")
    spec.add_argument("--tls-ca-secret", metavar="NAME[/KEY]", help="Secret with the CA bundle (key: ca.crt)")
    spec.add_argument("--port", type=int, help="Redis port (default: the container port named redis)")
    spec.add_argument("--storage", metavar="LOCATION", help="storage location from the operator's configuration")
    spec.add_argument("--deletion-policy", choices=("Delete", "Retain"), help="what deleting the RedisBackup does")
    spec.add_argument("--verify", action="store_true", help="verify the stored snapshot once available")
    add_waiting_arguments(parser, "snapshot")
    parser.set_defaults(handler=run)


def parse_tags(items: list[str] | None) -> dict[str, str] | None:
    """aws's forms: `Key=team,Value=a Key=env,Value=b`, or a JSON list of {"Key": …, "Value": …}."""
    if not items:
        return None
    tags: dict[str, str] = {}
    for item in items:
        if item.lstrip().startswith("["):
            try:
                entries = json.loads(item)
            except ValueError as error:
                raise ValidationFault(f"--tags {item!r} is not valid JSON: {error}", field="--tags") from None
            pairs = [(str(e.get("Key", "")), str(e.get("Value", ""))) for e in entries if isinstance(e, dict)]
        else:
            fields = dict(part.split("=", 1) for part in item.split(",") if "=" in part)
            if "Key" not in fields:
                raise ValidationFault(f"--tags {item!r}: write Key=NAME,Value=VALUE", field="--tags")
            pairs = [(fields["Key"], fields.get("Value", ""))]
        tags.update(pairs)
    return tags


def _secret(reference: str, default_key: str) -> dict[str, str]:
    name, _, key = reference.partition("/")
    return {"name": name, "key": key or default_key}


def settings_of(args: argparse.Namespace, **optional: Any) -> dict[str, Any]:
    """The RedisBackup settings create-snapshot and copy-snapshot share (--deletion-policy, --verify), and
    `optional` ones that were given, in the spec's own names."""
    return {**optional, "deletionPolicy": args.deletion_policy, "verify": True if args.verify else None}


def snapshot_request(args: argparse.Namespace) -> NewSnapshot:
    auth: dict[str, Any] | None = None
    tls: dict[str, Any] | None = None
    if args.auth_secret:
        auth = {"secretRef": _secret(args.auth_secret, "password")}
        if args.auth_username:
            auth["username"] = args.auth_username
    if args.tls or args.tls_ca_secret:
        tls = {"enabled": True}
        if args.tls_ca_secret:
            tls["caSecretRef"] = _secret(args.tls_ca_secret, "ca.crt")
    return NewSnapshot(
        snapshot_name=args.snapshot_name,
        cache_cluster_id=args.cache_cluster_id,
        replication_group_id=None if args.cache_cluster_id else args.replication_group_id,
        tags=parse_tags(args.tags),
        settings=settings_of(
            args, sourceNamespace=args.source_namespace, auth=auth, tls=tls, port=args.port, storage=args.storage
        ),
    )


def backup_body(args: argparse.Namespace) -> dict[str, Any]:
    """The RedisBackup this command creates."""
    return snapshot_request(args).redisbackup()


def run(args: argparse.Namespace) -> int:
    return operate(OPERATION, args, lambda: submit(caller_of(args), snapshot_request(args), args))
