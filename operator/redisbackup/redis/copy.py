"""Copying every key of one server into another over the network: DUMP + PEXPIRETIME → RESTORE … ABSTTL.

DUMP serializes a key of any type (strings, lists, hashes, sets, sorted sets, streams with their consumer groups,
module types) in the server's own RDB encoding, and RESTORE recreates it exactly; PEXPIRETIME (Redis 7.0) and
RESTORE's ABSTTL carry the absolute expiry in milliseconds, so a key expires at the same instant as it would have on
the source however long the copy takes. A source older than 7.0 only tells PTTL: the instant is then taken as now +
PTTL when the key is dumped, within milliseconds of the truth. A key that expired meanwhile is skipped, as Redis
would have dropped it anyway. Both sides are pipelined in batches bounded by key count and bytes, so memory stays at
about one batch (or one key, for a key larger than a batch). Functions (FUNCTION DUMP/RESTORE) are copied too.

The source is a server nobody writes to (a throwaway redis-server that loaded a snapshot), so SCAN sees every key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import RestoreFault
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import RespError
from redisbackup.redis.faults import UnexpectedReply
from redisbackup.redis.keyspace import scan_keys

BATCH_KEYS = 500
BATCH_BYTES = 8 << 20


@dataclass
class CopyResult:
    keys: int = 0  # restored on the target
    expired: int = 0  # skipped: their expiry passed before they could be restored
    bytes: int = 0  # of DUMP payloads


def _restore_fault(target: RedisClient, key: bytes, message: str) -> RestoreFault:
    shown = f"{key[:60]!r}"
    prefix = message.split(" ", 1)[0].upper()
    if prefix in ("MOVED", "ASK"):
        return RestoreFault(
            f"{target.node} does not own the slot of key {shown} ({message}): the snapshot's shard holds keys "
            "outside its slots, or the nodes were given in the wrong order",
            code=FaultCode.KEYS_OUTSIDE_SLOTS,
        )
    if prefix == "BUSYKEY":
        return RestoreFault(
            f"{target.node} already has key {shown}: restore into empty nodes", code=FaultCode.RESTORE_TARGET_NOT_EMPTY
        )
    if prefix == "OOM":
        return RestoreFault(
            f"{target.node} ran out of memory restoring key {shown} ({message}): give the new nodes at least the "
            "memory of the source (maxmemory, and the container's limit)"
        )
    if "payload version" in message:
        return RestoreFault(
            f"{target.node} cannot read the DUMP payload of key {shown} ({message}): the new nodes run an older Redis "
            "than the local redis-server that loaded the snapshot; use Redis at least as new as that on the nodes"
        )
    return RestoreFault(f"{target.node} refused to RESTORE key {shown}: {message}")


async def _dump_batch(source: RedisClient, keys: list[bytes], absolute: bool = True) -> list[tuple[bytes, int, bytes]]:
    """(key, absolute expiry in ms or 0, payload) for each key that still exists."""
    expiry_command = "PEXPIRETIME" if absolute else "PTTL"
    now_ms = int(time.time() * 1000)
    replies = await source.pipeline([command for key in keys for command in ((expiry_command, key), ("DUMP", key))])
    dumped = []
    for index, key in enumerate(keys):
        expiry, payload = replies[2 * index], replies[2 * index + 1]
        if isinstance(expiry, RespError) or isinstance(payload, RespError):
            error = expiry if isinstance(expiry, RespError) else payload
            assert isinstance(error, RespError)
            raise UnexpectedReply(f"{source.node} could not DUMP key {key[:60]!r}: {error.message}")
        if payload is None or expiry == -2:
            continue  # gone: it expired between SCAN and DUMP
        if not isinstance(payload, bytes) or not isinstance(expiry, int):
            raise UnexpectedReply(f"{source.node} answered DUMP/{expiry_command} of {key[:60]!r} unexpectedly")
        if not absolute and expiry >= 0:
            expiry = now_ms + max(expiry, 1)
        dumped.append((key, max(expiry, 0), payload))
    return dumped


async def _restore_batch(target: RedisClient, dumped: list[tuple[bytes, int, bytes]], result: CopyResult) -> None:
    now_ms = int(time.time() * 1000)
    sent: list[tuple[bytes, int]] = []
    commands: list[tuple[str | bytes | int, ...]] = []
    for key, expiry, payload in dumped:
        if expiry and expiry <= now_ms:
            result.expired += 1
            continue
        commands.append(("RESTORE", key, expiry, payload, "ABSTTL") if expiry else ("RESTORE", key, 0, payload))
        sent.append((key, len(payload)))
    if not commands:
        return
    first_error: RestoreFault | None = None
    for (key, size), reply in zip(sent, await target.pipeline(commands), strict=True):
        if isinstance(reply, RespError):
            first_error = first_error or _restore_fault(target, key, reply.message)
            continue
        result.keys += 1
        result.bytes += size
    if first_error is not None:
        raise first_error


async def copy_keys(
    source: RedisClient,
    target: RedisClient,
    *,
    progress: Callable[[CopyResult], None] | None = None,
    batch_keys: int = BATCH_KEYS,
    batch_bytes: int = BATCH_BYTES,
    absolute_expiry: bool = True,
) -> CopyResult:
    """Copy every key of the source's selected database into the target's (both must be empty of each other).
    `absolute_expiry=False` for a source without PEXPIRETIME (before Redis 7.0)."""
    result = CopyResult()
    pending: list[tuple[bytes, int, bytes]] = []
    pending_bytes = 0
    async for keys in scan_keys(source, count=batch_keys):
        for start in range(0, len(keys), batch_keys):
            for item in await _dump_batch(source, keys[start : start + batch_keys], absolute_expiry):
                pending.append(item)
                pending_bytes += len(item[2])
                if len(pending) >= batch_keys or pending_bytes >= batch_bytes:
                    await _restore_batch(target, pending, result)
                    pending, pending_bytes = [], 0
                    if progress is not None:
                        progress(result)
    if pending:
        await _restore_batch(target, pending, result)
    if progress is not None:
        progress(result)
    return result


async def copy_functions(source: RedisClient, target: RedisClient) -> int:
    """Copy the source's function libraries (Redis 7 functions live in the RDB, not in keys); return how many."""
    libraries = await source.call("FUNCTION", "LIST")
    if not isinstance(libraries, list) or not libraries:
        return 0
    payload = await source.call("FUNCTION", "DUMP")
    if not isinstance(payload, bytes):
        raise UnexpectedReply(f"{source.node} answered FUNCTION DUMP with {payload!r:.60}")
    reply = await target.command("FUNCTION", "RESTORE", payload)
    if isinstance(reply, RespError):
        raise RestoreFault(f"{target.node} refused the snapshot's functions (FUNCTION RESTORE): {reply.message}")
    return len(libraries)
