"""The list of sub-command modules, in the order `redisbackup --help` shows them."""

from __future__ import annotations

import importlib
from types import ModuleType

# One line per sub-command module under redisbackup.cli; add yours here.
COMMAND_MODULES: tuple[str, ...] = (
    "create_snapshot",  # the aws elasticache twins first
    "describe_snapshots",
    "delete_snapshot",
    "copy_snapshot",
    "describe_workloads",  # describe-cache-clusters, describe-replication-groups
    "serve",  # the ElastiCache API, and the keys it accepts
    "access_keys",
    "restore",
    "restore_manifest",
    "restore_cluster",
    "verify",
    "dump",
    "validate",
    "run_operator",  # redisbackup operator
)


def all_modules() -> list[ModuleType]:
    return [importlib.import_module(f"redisbackup.cli.{name}") for name in COMMAND_MODULES]
