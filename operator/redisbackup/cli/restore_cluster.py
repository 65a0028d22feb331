"""`redisbackup restore-cluster`: a Redis Cluster snapshot into new, empty cluster-mode nodes, over the network.

    redisbackup restore-cluster --snapshot-name NAME [-n NS] --nodes HOST:PORT,… [--replicas K]
    redisbackup restore-cluster --from s3://bucket/prefix/NS/NAME/UID --nodes HOST:PORT,…

The snapshot has N node groups; give exactly N x (1 + K) nodes, each started with cluster-enabled yes, empty, and
knowing no other node. The first N become the primaries of node groups 0001…N and are assigned exactly the
slots their node group owned; the others become replicas, in turn of 0001, 0002, … Each node group's RDB is
checked against the manifest, loaded into a throwaway local redis-server and copied key by key (DUMP/RESTORE,
with absolute expiry times) into its primary; then the replicas attach and the command waits for
cluster_state:ok. No access to the nodes' disks is needed. Before anything changes, the nodes must read the
snapshot's RDB (the same engine at the same or a newer version: RestoreTargetIncompatible otherwise), and a local
reader (redis-server or valkey-server, from REDISBACKUP_RDB_TOOLS or PATH) must read it and write DUMP payloads
the nodes read — the nodes' own version is chosen when it is at hand.

--preloaded is the init-container route for StatefulSets: each primary Pod loaded its node group's RDB at boot
(`redisbackup restore --node-group auto`), and this command only adds the remaining slots, joins the nodes and
attaches the replicas.

The password comes from REDISCLI_AUTH (as for redis-cli), the ACL user from --user.
Exit status: 0 restored; 1 refused or failed (the message says why and what to do); 2 bad usage; 3 bad config.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from redisbackup.cli.commands import summary
from redisbackup.cli.options import add_tls_arguments, tls_settings
from redisbackup.cli.progress import terminal_progress
from redisbackup.cli.running import EXIT_OK, run_async, setup_logging
from redisbackup.cli.snapshot_args import add_snapshot_arguments, locate
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.source import ConnectionSettings, NodeAddress, RedisCredentials
from redisbackup.workflows.cluster_restore import ClusterRestore, restore_cluster


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "restore-cluster",
        help=summary("restore-cluster"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_snapshot_arguments(parser)
    parser.add_argument(
        "--nodes", required=True, metavar="HOST:PORT,…", help="the new nodes: primaries first, then the replicas"
    )
    parser.add_argument("--replicas", type=int, default=0, metavar="K", help="replicas per node group (default 0)")
    parser.add_argument(
        "--preloaded", action="store_true", help="the primaries loaded their node group's RDB at boot (init containers)"
    )
    parser.add_argument("--user", metavar="NAME", help="ACL user on the nodes (password: REDISCLI_AUTH)")
    add_tls_arguments(parser)
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="node groups loaded at once (each needs its memory)"
    )
    parser.add_argument("--work-dir", type=Path, metavar="DIR", help="where to put each RDB (default: TMPDIR)")
    parser.add_argument(
        "--redis-server",
        metavar="PATH",
        help="the local redis-server (or valkey-server) that loads the RDBs (default: the reader chosen from "
        "REDISBACKUP_RDB_TOOLS or PATH for the RDB's version and the nodes')",
    )
    parser.add_argument(
        "--wait-timeout", type=float, default=300.0, metavar="SECONDS", help="for each wait (cluster ok, replicas)"
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="what to print on success")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens on stderr")
    parser.set_defaults(handler=run)


def parse_nodes(text: str) -> list[NodeAddress]:
    nodes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = urlsplit(f"redis://{item}")
        try:
            port = parts.port or 6379
        except ValueError:
            port = -1
        if not parts.hostname or port < 1 or parts.username or parts.path:
            raise ValidationFault(f"--nodes: {item!r} is not HOST:PORT", field="--nodes")
        nodes.append(NodeAddress(parts.hostname, port))
    if not nodes:
        raise ValidationFault("--nodes is empty: name the new nodes, HOST:PORT,…", field="--nodes")
    return nodes


def describe(result: ClusterRestore) -> dict[str, object]:
    return {
        "snapshotName": result.snapshot_name,
        "clusterState": result.cluster_state,
        "alreadyRestored": result.already_restored,
        "nodeGroups": [
            {
                "nodeGroupId": group.node_group_id,
                "slots": group.slots,
                "primary": str(group.primary),
                "replicas": [str(replica) for replica in group.replicas],
                "keys": group.keys,
                "expiredMeanwhile": group.expired,
                "functionLibraries": group.functions,
            }
            for group in result.node_groups
        ],
    }


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    progress = terminal_progress(args.quiet, "restore-cluster:")

    async def main() -> int:
        nodes = parse_nodes(args.nodes)
        credentials = RedisCredentials(args.user, os.environ.get("REDISCLI_AUTH"))
        settings = ConnectionSettings(credentials=credentials, tls=tls_settings(args))
        located = await locate(args, doing="be restored")
        try:
            result = await restore_cluster(
                located.store,
                located.manifest,
                nodes,
                settings,
                replicas=args.replicas,
                preloaded=args.preloaded,
                parallel=args.parallel,
                work_dir=args.work_dir,
                redis_server=args.redis_server,
                wait_seconds=args.wait_timeout,
                report=progress.message if progress else None,
            )
        finally:
            await located.close()
        if progress:
            progress.close()
        if args.output == "json":
            print(json.dumps(describe(result), indent=2))
        else:
            done = "was already restored into these nodes" if result.already_restored else "restored into a new cluster"
            print(f'snapshot "{result.snapshot_name}" {done}: cluster_state:{result.cluster_state}')
            for group in result.node_groups:
                replicas = f", replicas {', '.join(map(str, group.replicas))}" if group.replicas else ""
                print(
                    f"  node group {group.node_group_id}: slots {group.slots} on {group.primary}{replicas}: "
                    f"{group.keys} keys"
                )
        return EXIT_OK

    return run_async("restore-cluster", main, progress=progress)
