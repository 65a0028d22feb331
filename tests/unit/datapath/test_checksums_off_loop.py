"""Checksums in worker threads (workflows.checksums): the same digest as inline, off the event loop thread."""

from __future__ import annotations

import asyncio
import os
import threading

import anycrc
import pytest

from redisbackup.domain.rdb import NotAnRdb, RdbVerifier
from redisbackup.workflows import checksums

CHUNK = 256 << 10


def large_rdb() -> bytes:
    """A well-formed RDB of ~3 MiB: signature, opaque body, EOF opcode, the CRC-64 trailer (CRC64-REDIS)."""
    body = b"REDIS0011" + os.urandom(3 << 20) + b"\xff"
    return body + anycrc.Model("CRC64-REDIS").calc(body).to_bytes(8, "little")


async def feed(data: bytes, verifier: RdbVerifier, written: bytearray, threads: set[str]) -> None:
    async def write(chunk: bytes | bytearray | memoryview) -> None:
        await asyncio.sleep(0)
        written.extend(chunk)

    original = verifier.update

    def update(chunk: bytes | bytearray | memoryview) -> None:
        threads.add(threading.current_thread().name)
        original(chunk)

    verifier.update = update  # type: ignore[method-assign]
    for start in range(0, len(data), CHUNK):
        await checksums.verify_while(verifier, memoryview(data)[start : start + CHUNK], write)


def test_the_digest_is_the_inline_one_and_large_chunks_are_hashed_off_the_loop() -> None:
    data = large_rdb()
    inline = RdbVerifier("n:1")
    inline.update(data)
    expected = inline.finish()
    threaded, written, threads = RdbVerifier("n:1"), bytearray(), set[str]()
    asyncio.run(feed(data, threaded, written, threads))
    assert threaded.finish() == expected
    assert bytes(written) == data
    assert any(name.startswith("checksum") for name in threads)
    assert {name for name in threads if not name.startswith("checksum")} <= {"MainThread"}  # the 18-byte tail


def test_a_bad_header_raises_from_the_thread_and_a_failed_write_waits_for_the_hash() -> None:
    with pytest.raises(NotAnRdb):
        asyncio.run(checksums.verify_while(RdbVerifier("n:1"), b"HTTP/1.1 200 OK" + bytes(CHUNK)))

    hashed = threading.Event()
    verifier = RdbVerifier("n:1")
    original = verifier.update

    def slow_update(chunk: bytes | bytearray | memoryview) -> None:
        threading.Event().wait(0.2)
        original(chunk)
        hashed.set()

    verifier.update = slow_update  # type: ignore[method-assign]

    async def failing_write(chunk: bytes | bytearray | memoryview) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(checksums.verify_while(verifier, large_rdb()[:CHUNK], failing_write))
    assert hashed.is_set()  # the receive buffer was not handed back while the thread still read it
