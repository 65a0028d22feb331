"""`redisbackup restore-manifest`: print the objects of a brand-new Redis restored from a snapshot.

    redisbackup restore-manifest --snapshot-name baseline [-n NS] [--name NEW] [--replicas K] | kubectl apply -f -

A StatefulSet whose init container runs `redisbackup restore` before Redis starts (a Redis Cluster snapshot: one
Pod per node group and K replicas each, and a Job that joins them), its Service, and a ServiceAccount that may read
RedisBackups — the same YAML the console's Restore shows. The storage settings are the operator's: ConfigMap
redisbackup-storage and Secret redisbackup-s3 in the namespace, as in manifests/samples/restore/.
"""

from __future__ import annotations

import argparse
import sys

from redisbackup import __version__
from redisbackup.cli.aws import EXIT_OK, EXIT_SERVICE, error_line, namespace_of
from redisbackup.cli.commands import summary
from redisbackup.cli.options import add_kubernetes_arguments
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.restore_manifests import RestoreRequest, default_image, restore_yaml
from redisbackup.k8s import redisbackups


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "restore-manifest",
        help=summary("restore-manifest"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--snapshot-name", required=True, metavar="NAME", help="the snapshot to restore")
    parser.add_argument("--name", metavar="NEW", help="name of the new StatefulSet (default: <snapshot>-restored)")
    parser.add_argument("--replicas", type=int, metavar="K", help="replicas per node group of a restored cluster")
    parser.add_argument(
        "--image", default=default_image(__version__), help="the redisbackup image of the init container"
    )
    add_kubernetes_arguments(parser, namespace_help="namespace of the RedisBackup (default: as kubectl)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    namespace = namespace_of(args)
    try:
        body = redisbackups.find_backup(namespace, args.snapshot_name)
    except RedisBackupError as fault:
        print(f"\n{error_line(fault, 'RestoreManifest')}", file=sys.stderr)
        return EXIT_SERVICE
    request = RestoreRequest.of(body, name=args.name, image=args.image, replicas=args.replicas)
    print(restore_yaml(request), end="")
    return EXIT_OK
