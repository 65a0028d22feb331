"""Test data sets, and comparing two of them key by key on any Redis or Valkey version.

The baseline has every type (strings, lists, hashes, sets, sorted sets, streams with consumer groups and a pending
entry), binary keys and values, values far larger than a pipeline batch, keys in several databases (single nodes),
hash tags (clusters), absolute expiry times, and — where the server has them (Redis 7.0+, Valkey) — a function
library. Two data sets are equal when every key has the same type, value and expiry instant, compared logically, so
that the encoding a version chose (listpack or ziplist, the RDB version of a DUMP payload) does not matter: that is
what lets a snapshot of Redis 6.0 be compared with the Redis 8.0 it was restored into. Expiry instants come from
PEXPIRETIME (7.0+) to the millisecond; a 6.0 server only tells PTTL, so its instants are read as now + PTTL and
compared within `EXPIRY_SLACK_MS`. DEBUG DIGEST (`digest`) compares whole data sets of one version exactly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from devstack.redis_nodes import RedisNode, fill_mixed

LIBRARY = "#!lua name=baseline\nredis.register_function('answer', function() return 42 end)\n"
EXPIRE_AT_MS = int(time.time() * 1000) + 6 * 3600 * 1000  # far enough ahead for any test run
EXPIRY_SLACK_MS = 2000  # two PTTL readings of a 6.0 server, seconds apart, of the same instant

Entry = tuple[str, Any, int]
"""(type, value, absolute expiry in ms or -1)."""


def server_version(client: redis.Redis) -> tuple[str, str]:
    """(engine, version) as the server reports it in INFO: Valkey's own version (valkey_version), not the
    redis_version 7.2.4 it also shows for clients."""
    info = client.info("server")
    engine = "valkey" if "valkey_version" in info or info.get("server_name") == "valkey" else "redis"
    return engine, str(info["valkey_version"] if engine == "valkey" else info["redis_version"])


def written_rdb_version(client: redis.Redis) -> int:
    """The RDB version the server writes, read from the server itself: a DUMP payload ends with it (2 bytes, little
    endian) and its CRC-64."""
    key = client.randomkey()  # a key this node holds (in a cluster, a new one might hash to another's slot)
    if key is None:
        client.set(key := b"datasets:rdb-version-probe", b"x")
    try:
        payload = client.dump(key)
    finally:
        if key == b"datasets:rdb-version-probe":
            client.delete(key)
    assert isinstance(payload, bytes), f"DUMP {key!r} answered {payload!r}"
    return int.from_bytes(payload[-10:-8], "little")


def modern(client: redis.Redis) -> bool:
    """PEXPIRETIME, functions, CLUSTER SHARDS, REPLCONF rdb-only: Redis 7.0 and every Valkey."""
    engine, version = server_version(client)
    return engine == "valkey" or tuple(int(part) for part in version.split(".")[:2]) >= (7, 0)


def seed_baseline(client: redis.Redis, *, prefix: str = "base", databases: Iterable[int] = (), big: bool = True) -> int:
    """Write the baseline into `client` (db 0, plus `databases`); return the number of keys written in db 0."""
    count = fill_mixed(client, prefix=prefix, count=140)
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
        info = client.xinfo_stream(key)
        groups = [
            (g["name"], g["last-delivered-id"], g["pending"], _pending(client, key, g["name"]))
            for g in client.xinfo_groups(key)  # type: ignore[union-attr]
        ]
        return client.xrange(key), info["last-generated-id"], groups
    raise AssertionError(f"unexpected type {kind} of {key!r}")


def _pending(client: redis.Redis, key: bytes, group: bytes) -> list[tuple[Any, Any, Any]]:
    entries = client.xpending_range(key, group, min="-", max="+", count=1000)
    return [(e["message_id"], e["consumer"], e["times_delivered"]) for e in entries]


def _expiry(client: redis.Redis, key: bytes, exact: bool) -> int:
    if exact:
        return int(client.execute_command("PEXPIRETIME", key))
    ttl = int(client.pttl(key))
    return ttl if ttl < 0 else int(time.time() * 1000) + ttl


def logical_dataset(client: redis.Redis) -> dict[bytes, Entry]:
    """Every key of the client's database: (type, value, absolute expiry in ms or -1)."""
    exact = modern(client)
    result = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        result[key] = (kind, _value(client, key, kind), _expiry(client, key, exact))
    return result


def functions(client: redis.Redis) -> str:
    """The function libraries with their code ("" when there are none, or the server has no functions)."""
    libraries = client.execute_command("FUNCTION", "LIST", "WITHCODE") if modern(client) else None
    return repr(libraries) if libraries else ""


def every_database(node: RedisNode) -> dict[int, dict[bytes, Entry]]:
    """The logical data set of every non-empty database of a node, and its functions under key -1."""
    found: dict[int, dict[bytes, Entry]] = {}
    with node.client() as client:
        numbers = [int(name[2:]) for name in client.info("keyspace")]
        libraries = functions(client)
    for number in numbers:
        with node.client(db=number) as client:
            found[number] = logical_dataset(client)
    found[-1] = {b"functions": ("functions", libraries, -1)}
    return found


def cluster_dataset(nodes: Iterable[RedisNode]) -> dict[bytes, Entry]:
    """The union of the primaries' data sets (a key lives on one primary only)."""
    union: dict[bytes, Entry] = {}
    for node in nodes:
        with node.client() as client:
            part = logical_dataset(client)
        assert not set(part) & set(union), "a key on two primaries"
        union.update(part)
    return union


def digest(client: redis.Redis) -> str:
    """DEBUG DIGEST: one hash over the whole data set (all dbs, values and expiries), for one server version."""
    return str(client.execute_command("DEBUG", "DIGEST"), "ascii")


def differences(actual: Mapping[Any, Any], expected: Mapping[Any, Any], *, slack_ms: int = 0) -> list[str]:
    """What differs between two results of `every_database`/`logical_dataset`/`cluster_dataset` (empty: equal).

    Expiry instants may differ by `slack_ms` (a 6.0 server's PTTL readings); everything else must be equal.
    """
    problems: list[str] = []

    def compare(path: str, mine: Any, theirs: Any) -> None:
        if isinstance(mine, Mapping) and isinstance(theirs, Mapping):
            for key in sorted(set(mine) | set(theirs), key=repr):
                if key not in mine:
                    problems.append(f"{path}{key!r}: missing")
                elif key not in theirs:
                    problems.append(f"{path}{key!r}: not in the source")
                else:
                    compare(f"{path}{key!r}/", mine[key], theirs[key])
        elif _is_entry(mine) and _is_entry(theirs):
            if mine[:2] != theirs[:2]:
                problems.append(f"{path}: {str(mine[:2])[:200]} != {str(theirs[:2])[:200]}")
            elif (mine[2] < 0) != (theirs[2] < 0) or abs(mine[2] - theirs[2]) > slack_ms:
                problems.append(f"{path}: expires at {mine[2]} instead of {theirs[2]}")
        elif mine != theirs:
            problems.append(f"{path}: {str(mine)[:200]} != {str(theirs)[:200]}")

    compare("", actual, expected)
    return problems


def _is_entry(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[2], int)


def slack(*clients: redis.Redis) -> int:
    """The expiry slack two data sets read from these servers need (0 when every one tells PEXPIRETIME)."""
    return 0 if all(modern(client) for client in clients) else EXPIRY_SLACK_MS
