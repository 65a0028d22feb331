"""The sub-commands: which module implements each, and the one-line summary `redisbackup --help` shows.

The table is here, not in the modules, so the top-level help and a command's own start-up need only the module
of the command that runs: `redisbackup validate` never imports the Kubernetes client, kopf or boto3 (CLI start-up
is a figure of `make bench`). Each module's `register` takes its summary from `summary(name)`, so the two never
disagree.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple


class Command(NamedTuple):
    module: str  # under redisbackup.cli; one module may register several commands
    summary: str


# In the order `redisbackup --help` shows them: the aws elasticache twins first. Add yours here.
COMMANDS: dict[str, Command] = {
    "create-snapshot": Command(
        "create_snapshot", "create a snapshot (a RedisBackup), as aws elasticache create-snapshot"
    ),
    "describe-snapshots": Command(
        "describe_snapshots", "list snapshots (RedisBackups), as aws elasticache describe-snapshots"
    ),
    "delete-snapshot": Command(
        "delete_snapshot", "delete a snapshot (its RedisBackup and stored data), as aws elasticache delete-snapshot"
    ),
    "copy-snapshot": Command(
        "copy_snapshot", "copy a snapshot into a new, independent one, as aws elasticache copy-snapshot"
    ),
    "describe-cache-clusters": Command(
        "describe_workloads",
        "list the Redis nodes snapshots can be taken of, as aws elasticache describe-cache-clusters",
    ),
    "describe-replication-groups": Command(
        "describe_workloads",
        "list the Redis Clusters and replicated sets, as aws elasticache describe-replication-groups",
    ),
    "serve": Command("serve", "serve the ElastiCache API (aws elasticache --endpoint-url …) over HTTPS"),
    "create-access-key": Command(
        "access_keys", "issue an access key of the ElastiCache API, bound to a ServiceAccount or user"
    ),
    "delete-access-key": Command("access_keys", "revoke an access key of the ElastiCache API (deletes its Secret)"),
    "restore": Command("restore", "restore a snapshot's RDB into a Redis data directory (e.g. from an init container)"),
    "restore-manifest": Command(
        "restore_manifest", "print the YAML of a new Redis (StatefulSet) restored from a snapshot"
    ),
    "restore-cluster": Command(
        "restore_cluster", "restore a Redis Cluster snapshot into new empty cluster-mode nodes (slots, data, replicas)"
    ),
    "verify": Command(
        "verify", "check that a stored snapshot restores (redis-check-rdb, a load into a throwaway redis-server)"
    ),
    "dump": Command("dump", "snapshot a Redis node or cluster to a directory or S3 (no Kubernetes needed)"),
    "validate": Command(
        "validate", "check RedisBackup and RedisBackupSchedule manifests offline with the webhook's rules"
    ),
    "operator": Command("run_operator", "run the operator (reconciliation and the admission webhook)"),
}

COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(c.module for c in COMMANDS.values()))
# The commands that run until stopped: their start-up is not a figure, and pydantic plugins (tracing) may serve them.
SERVERS = frozenset({"serve", "operator"})


def summary(name: str) -> str:
    return COMMANDS[name].summary


def module_of(name: str) -> ModuleType:
    return importlib.import_module(f"redisbackup.cli.{COMMANDS[name].module}")


def all_modules() -> list[ModuleType]:
    return [importlib.import_module(f"redisbackup.cli.{name}") for name in COMMAND_MODULES]
