"""Shared steps of the restore e2e tests: a baseline data set of every kind, and comparing data sets exactly.

The baseline has every Redis type (strings, lists, hashes, sets, sorted sets, streams with consumer groups), binary
keys and values, values far larger than a pipeline batch, keys in several databases (single nodes), hash tags
(clusters), absolute expiry times, and a function library. Two data sets are equal when every key has the same
type, value and expiry time (PEXPIRETIME, to the millisecond) — compared logically, so the internal encoding or
iteration order of a set does not matter — and the same functions are loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from typing import Any

import redis

from devstack import redis_nodes
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import RedisNode

REDISBACKUP = [sys.executable, "-m", "redisbackup.cli.main"]
LIBRARY = "#!lua name=baseline\nredis.register_function('answer', function() return 42 end)\n"
EXPIRE_AT_MS = int(time.time() * 1000) + 6 * 3600 * 1000  # far enough ahead for any test run


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


def seed_baseline(client: redis.Redis, *, prefix: str = "base", databases: Iterable[int] = (), big: bool = True) -> int:
    """Write the baseline into `client` (db 0, plus `databases`); return the number of keys written in db 0."""
    count = redis_nodes.fill_mixed(client, prefix=prefix, count=140)
    pipe = client.pipeline(transaction=False)
    pipe.set(f"{prefix}:binary:\x00\xff".encode("latin-1"), bytes(range(256)))
    pipe.set(f"{prefix}:expires-at", b"at a fixed instant")
    pipe.pexpireat(f"{prefix}:expires-at", EXPIRE_AT_MS)
    pipe.hset(f"{prefix}:{{tagged}}:hash", mapping={"a": "1", "b": "2"})
    pipe.sadd(f"{prefix}:{{tagged}}:set", "x", "y", "z")
    pipe.xadd(f"{prefix}:events", {"type": "created"}, id="1-1")
    pipe.xadd(f"{prefix}:events", {"type": "updated"}, id="2-1")
    pipe.xgroup_create(f"{prefix}:events", "workers", id="0")
    pipe.execute()
    client.xreadgroup("workers", "alice", {f"{prefix}:events": ">"}, count=1)  # a pending entry
    count += 6
    if big:
        # Larger than a pipeline batch (8 MiB) and than any listpack: the big-value paths of every format.
        client.set(f"{prefix}:big:string", os.urandom(9 << 20))
        client.hset(f"{prefix}:big:hash", mapping={f"field{i}": os.urandom(64) for i in range(20_000)})
        client.sadd(f"{prefix}:big:set", *[os.urandom(16) for _ in range(20_000)])
        client.zadd(f"{prefix}:big:zset", {f"m{i}": i * 0.5 for i in range(5_000)})
        client.rpush(f"{prefix}:big:list", *[os.urandom(32) for _ in range(20_000)])
        client.expire(f"{prefix}:big:list", 7200)
        count += 5
    for number in databases:  # written in db 0, then MOVEd (with their TTLs): no client per database needed
        client.set(f"{prefix}:db{number}", f"only in db {number}", ex=3600)
        client.rpush(f"{prefix}:db{number}:list", "a", "b")
        client.move(f"{prefix}:db{number}", number)
        client.move(f"{prefix}:db{number}:list", number)
    return count


def load_functions(client: redis.Redis) -> None:
    client.execute_command("FUNCTION", "LOAD", LIBRARY)


def mutate(client: redis.Redis, prefix: str = "base") -> None:
    """What the application under test does to the data: changes, deletes and adds."""
    client.set(f"{prefix}:0:str", b"changed by the test")
    client.delete(f"{prefix}:1:hash")
    client.rpush(f"{prefix}:2:list", b"appended")
    client.persist(f"{prefix}:expires-at")
    client.set(f"{prefix}:added-by-test", b"new")


def _value(client: redis.Redis, key: bytes, kind: str) -> Any:
    if kind == "string":
        return client.get(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "hash":
        return sorted(client.hgetall(key).items())
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        groups = [
            (g["name"], g["last-delivered-id"], g["pending"])
            for g in client.xinfo_groups(key)  # type: ignore[union-attr]
        ]
        return client.xrange(key), groups
    raise AssertionError(f"unexpected type {kind} of {key!r}")


def logical_dataset(client: redis.Redis) -> dict[bytes, tuple[str, Any, int]]:
    """Every key of the client's database: (type, value, absolute expiry in ms or -1)."""
    result = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        expiry = int(client.execute_command("PEXPIRETIME", key))
        result[key] = (kind, _value(client, key, kind), expiry)
    return result


def every_database(node: RedisNode) -> dict[int, dict[bytes, tuple[str, Any, int]]]:
    """The logical data set of every non-empty database of a node, and its functions under key -1."""
    found: dict[int, dict[bytes, tuple[str, Any, int]]] = {}
    with node.client() as client:
        numbers = [int(name[2:]) for name in client.info("keyspace")]
        functions = client.execute_command("FUNCTION", "LIST", "WITHCODE")
    for number in numbers:
        with node.client(db=number) as client:
            found[number] = logical_dataset(client)
    found[-1] = {b"functions": ("functions", repr(functions), -1)}
    return found


def cluster_dataset(nodes: Iterable[RedisNode]) -> dict[bytes, tuple[str, Any, int]]:
    """The union of the primaries' data sets (a key lives on one primary only)."""
    union: dict[bytes, tuple[str, Any, int]] = {}
    for node in nodes:
        with node.client() as client:
            part = logical_dataset(client)
        assert not set(part) & set(union), "a key on two primaries"
        union.update(part)
    return union


def fresh_cluster_nodes(factory: RedisFactory, count: int) -> list[RedisNode]:
    """`count` new, empty, cluster-enabled redis-servers that know no other node."""
    return [factory.cluster_node() for _ in range(count)]


def cluster_state(node: RedisNode) -> str:
    with node.client() as client:
        info = client.execute_command("CLUSTER", "INFO").decode()
    return next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("cluster_state:"))
