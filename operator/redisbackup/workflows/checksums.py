"""Checksums off the event loop, for the streams the loop reads: TLS snapshots and restores' reads of the store.
(A snapshot without TLS is read, checked and stored by its own thread: redis.replication.RdbStream.pump.)

SHA-256 of a large buffer releases the GIL (hashlib does so above 2 KiB), so a chunk hashed in a worker thread
runs in parallel with the event loop (which receives, decrypts TLS and copies into the store's parts) and with
the other streams' hashing: N node streams use up to N cores. The CRC-64 (anycrc, carry-less multiply) holds
the GIL but runs at several GB/s, a small share of a chunk's time.

A chunk is a view into a receive buffer that goes back to the pool at the stream's next read, so the caller
awaits the hashing of a chunk before reading the next one: `verify_while` runs the hash and the store's write of
the same chunk at once and returns when both are done.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from redisbackup.domain.rdb import RdbVerifier

# Below this a thread hop (~20 µs) costs more than hashing inline would.
INLINE_BELOW = 64 << 10

Chunk = bytes | bytearray | memoryview
C = TypeVar("C", bound=Chunk)  # a writer of bytes is given bytes: the same type both ways


@functools.cache
def pool() -> ThreadPoolExecutor:
    """One pool per process, as many threads as cores: more hashing threads than cores only adds switching.
    Created on first use, so importing this module starts no threads."""
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="checksum")


async def verify_while(verifier: RdbVerifier, chunk: C, write: Callable[[C], Awaitable[None]] | None = None) -> None:
    """Feed `chunk` to `verifier` in a worker thread while `write(chunk)` (the store's copy) runs on the loop."""
    if len(chunk) < INLINE_BELOW:
        verifier.update(chunk)
        if write is not None:
            await write(chunk)
        return
    hashing = asyncio.get_running_loop().run_in_executor(pool(), verifier.update, chunk)
    try:
        if write is not None:
            await write(chunk)
    finally:
        # Even on failure or cancellation: the thread still reads the chunk, whose buffer must not be reused yet.
        await asyncio.wait([hashing])
    hashing.result()  # a bad RDB header raises here
