"""Naming the snapshot to restore or verify: a RedisBackup through Kubernetes, or a storage URL without it."""

from __future__ import annotations

import argparse

from redisbackup.cli.config_file import load_config
from redisbackup.cli.options import add_config_argument, add_kubernetes_arguments, add_s3_arguments, s3_options
from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import client as kubernetes_client
from redisbackup.workflows.locate import LocatedSnapshot, locate_backup, locate_url


def add_snapshot_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_argument_group("which snapshot (one of)")
    which.add_argument(
        "--snapshot-name",
        metavar="NAME",
        help="the RedisBackup's spec.snapshotName (read through the Kubernetes API; it must be available)",
    )
    which.add_argument(
        "--from",
        dest="from_url",
        metavar="URL",
        help="no Kubernetes: the stored snapshot itself, <location>/<namespace>/<snapshotName>/<uid> as in the "
        "RedisBackup's status.location, e.g. s3://bucket/prefix/default/nightly/<uid> or file:///backups/…",
    )
    add_kubernetes_arguments(parser, namespace_help="namespace of the RedisBackup (default: as kubectl)")
    add_config_argument(parser)
    add_s3_arguments(parser)


async def locate(args: argparse.Namespace, *, doing: str) -> LocatedSnapshot:
    """The snapshot the arguments name; `doing` ("be restored") completes the message for one not available."""
    if (args.snapshot_name is None) == (args.from_url is None):
        raise ValidationFault(
            "name the snapshot with --snapshot-name NAME (a RedisBackup, through Kubernetes) or with --from URL "
            "(its storage location, without Kubernetes): exactly one of them",
            field="--snapshot-name",
        )
    if args.from_url is not None:
        return await locate_url(args.from_url, **s3_options(args))
    kubernetes_client.select(args.kubeconfig, args.context)
    namespace = args.namespace or kubernetes_client.current_namespace()
    return await locate_backup(namespace, args.snapshot_name, load_config(args.config), doing=doing)
