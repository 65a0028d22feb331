"""Shared steps of the restore e2e tests: the `redisbackup` command, the baseline data set (devstack.datasets:
every type, compared logically key by key) and fresh cluster nodes."""

from __future__ import annotations

import os
import subprocess
import sys

import redis

from devstack.datasets import (
    EXPIRE_AT_MS,
    LIBRARY,
    cluster_dataset,
    every_database,
    load_functions,
    logical_dataset,
    seed_baseline,
)
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import RedisNode

__all__ = [
    "EXPIRE_AT_MS",
    "LIBRARY",
    "cluster_dataset",
    "cluster_state",
    "every_database",
    "fresh_cluster_nodes",
    "load_functions",
    "logical_dataset",
    "mutate",
    "redisbackup",
    "seed_baseline",
]

REDISBACKUP = [sys.executable, "-m", "redisbackup.cli.main"]


def redisbackup(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the `redisbackup` command as a user does, in a child process."""
    return subprocess.run(
        [*REDISBACKUP, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def mutate(client: redis.Redis, prefix: str = "base") -> None:
    """What the application under test does to the data: changes, deletes and adds."""
    client.set(f"{prefix}:0:str", b"changed by the test")
    client.delete(f"{prefix}:1:hash")
    client.rpush(f"{prefix}:2:list", b"appended")
    client.persist(f"{prefix}:expires-at")
    client.set(f"{prefix}:added-by-test", b"new")


def fresh_cluster_nodes(factory: RedisFactory, count: int) -> list[RedisNode]:
    """`count` new, empty, cluster-enabled redis-servers that know no other node."""
    return [factory.cluster_node() for _ in range(count)]


def cluster_state(node: RedisNode) -> str:
    with node.client() as client:
        info = client.execute_command("CLUSTER", "INFO").decode()
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("cluster_state:"))
