"""Reading a server's keyspace: key counts per database (INFO keyspace) and every key name (SCAN)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redisbackup.redis.client import Commands
from redisbackup.redis.faults import UnexpectedReply

_DB_LINE = re.compile(r"^db(\d+):keys=(\d+),expires=(\d+)")


@dataclass(frozen=True)
class DatabaseKeys:
    keys: int
    expires: int


def parse_keyspace(text: str) -> dict[int, DatabaseKeys]:
    """`db0:keys=3,expires=1,avg_ttl=0` lines → {0: DatabaseKeys(3, 1)}; empty databases are not listed."""
    found = {}
    for line in text.splitlines():
        if match := _DB_LINE.match(line.strip()):
            found[int(match[1])] = DatabaseKeys(int(match[2]), int(match[3]))
    return found


async def keyspace(connection: Commands) -> dict[int, DatabaseKeys]:
    reply = await connection.call("INFO", "keyspace")
    if not isinstance(reply, bytes):
        raise UnexpectedReply(f"{connection.node} answered INFO keyspace with {type(reply).__name__}")
    return parse_keyspace(reply.decode(errors="replace"))


async def scan_keys(connection: Commands, *, count: int = 1000) -> AsyncIterator[list[bytes]]:
    """Every key of the selected database, in batches. Complete for a server nobody writes to (ours)."""
    cursor = b"0"
    while True:
        reply = await connection.call("SCAN", cursor, "COUNT", count)
        if not isinstance(reply, list) or len(reply) != 2:
            raise UnexpectedReply(f"{connection.node} answered SCAN with {reply!r:.80}")
        cursor_reply, keys = reply
        if not isinstance(cursor_reply, bytes) or not isinstance(keys, list):
            raise UnexpectedReply(f"{connection.node} answered SCAN with {reply!r:.80}")
        batch = [key for key in keys if isinstance(key, bytes)]
        if batch:
            yield batch
        cursor = cursor_reply
        if cursor == b"0":
            return
