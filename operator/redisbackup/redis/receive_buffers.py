"""Receiving from a socket straight into a small pool of reusable buffers, with back-pressure.

`ReceiveBuffers` is an asyncio BufferedProtocol: the event loop `recv_into`s our buffers directly (no
intermediate bytes objects, also behind TLS), and when every buffer is full and unread it pauses reading, so the
kernel's window closes and the server waits. Memory is bounded by `depth x chunk_size` however large the RDB.

`BufferedStreamReader` gives the consumer lines (the RESP handshake, keep-alives) and views of the stream (the
RDB). A view is only valid until the next read: its buffer goes back to the pool then.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_DEPTH = 4


class ReceiveBuffers(asyncio.BufferedProtocol):
    def __init__(self, *, chunk_size: int = DEFAULT_CHUNK_SIZE, depth: int = DEFAULT_DEPTH) -> None:
        self._chunk_size = chunk_size
        self._depth = max(2, depth)
        self._allocated = 0
        self._free: list[bytearray] = []
        self._filling: bytearray | None = None
        self._filled = 0
        self._ready: deque[tuple[bytearray, int]] = deque()
        self._lent: bytearray | None = None  # the buffer the reader is looking at
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 1  # wake the reader once this many bytes are waiting
        self._paused = False  # reading paused: every buffer is full (flow control)
        self._napping = False  # reading paused briefly so the kernel gathers more per recv
        self._detached = False  # the socket was handed to a blocking reader: never read from it again
        self.nap: float = 0.0  # seconds; 0 = never (set for bulk transfers only)
        self.nap_below = 64 << 10
        self.closed = False
        self.error: BaseException | None = None
        self.transport: asyncio.BaseTransport | None = None

    @property
    def buffers_allocated(self) -> int:
        """How many receive buffers exist (the memory bound is this x chunk_size)."""
        return self._allocated

    # ---------------------------------------------------------------------------------------- protocol side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._filling is None:
            self._filling = self._take_buffer()
            self._filled = 0
        return memoryview(self._filling)[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        assert self._filling is not None
        self._filled += nbytes
        if self._filled == len(self._filling):
            self._ready.append((self._filling, self._filled))
            self._filling, self._filled = None, 0
            if not self._free and self._allocated >= self._depth:
                self._pause()
            self._wake()
        elif self._filled >= self._wanted:
            self._wake()
        if self.nap and nbytes < self.nap_below:
            self._take_a_nap()

    def _take_a_nap(self) -> None:
        """After a small read, let the kernel collect data for a moment instead of waking per packet.

        Redis forwards a diskless RDB 16 KiB at a time; reading each piece as it comes costs an event-loop turn
        per 16 KiB, several CPU-seconds per GB in Python. The socket buffer holds the data meanwhile, so the
        server is not slowed down; `nap` (a few milliseconds) bounds the added latency.
        """
        if self._napping or self._paused or self.closed or self.transport is None:
            return
        self._napping = True
        self.transport.pause_reading()  # type: ignore[attr-defined]
        asyncio.get_running_loop().call_later(self.nap, self._end_nap)

    def _end_nap(self) -> None:
        self._napping = False
        if not self._paused and not self._detached and not self.closed and self.transport is not None:
            self.transport.resume_reading()  # type: ignore[attr-defined]

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    # ---------------------------------------------------------------------------------------- reader side
    async def next_chunk(self, idle: float | None, *, gather: int = 1, linger: float = 0.002) -> memoryview | None:
        """The next received bytes, or None once the peer has closed.

        `gather` > 1 asks for at least that many bytes (unless nothing more arrives for `linger` seconds):
        Redis hands a diskless RDB to the socket 16 KiB at a time, and processing a megabyte per wake-up
        instead of 16 KiB costs a fraction of the CPU. Raises TimeoutError when nothing arrives for `idle`
        seconds, and the transport's error if it failed.
        """
        self._recycle()
        lingered = False
        while True:
            if self._ready:
                buffer, size = self._ready.popleft()
                return self._lend(buffer, size)
            if self._filling is not None and self._filled and (self._filled >= gather or lingered or self.closed):
                buffer, size = self._filling, self._filled
                self._filling, self._filled = None, 0
                return self._lend(buffer, size)
            if self.closed:
                if self.error is not None:
                    raise self.error
                return None
            # Decide before waiting: while wait_for cancels its waiter, more data may arrive and complete the
            # buffer, so `_filled` after a timeout says nothing about which of the two limits expired.
            lingering = self._filled > 0
            self._wanted = gather if lingering else 1
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, linger if lingering else idle)
            except TimeoutError:
                if not lingering:
                    raise
                lingered = True
            finally:
                self._waiter = None
                self._wanted = 1

    def _lend(self, buffer: bytearray, size: int) -> memoryview:
        self._lent = buffer
        return memoryview(buffer)[:size]

    def _recycle(self) -> None:
        if self._lent is not None:
            self._free.append(self._lent)
            self._lent = None
            if self._paused and self.transport is not None and not self.closed:
                self._paused = False
                if not self._napping and not self._detached:
                    self.transport.resume_reading()  # type: ignore[attr-defined]

    async def detach(self) -> bytes:
        """Stop reading for good and return what was received but not yet read, for a reader that takes over the
        socket. Reading is paused first, then the loop turns once: a read the selector reported in this same turn
        may still run its callback, and its bytes must land here, before the other reader's recv."""
        self._detached = True
        self.nap = 0.0
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        self._recycle()
        pending = b"".join(bytes(memoryview(buffer)[:size]) for buffer, size in self._ready)
        if self._filling is not None:
            pending += bytes(memoryview(self._filling)[: self._filled])
        self._ready.clear()
        self._free.clear()  # the buffers' memory goes back now: the other reader brings its own
        self._filling, self._filled = None, 0
        return pending

    def _take_buffer(self) -> bytearray:
        if self._free:
            return self._free.pop()
        # Beyond `depth` only if the transport asks for a buffer while paused (a TLS record already decrypted).
        self._allocated += 1
        return bytearray(self._chunk_size)

    def _pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            if not self._napping:
                self.transport.pause_reading()  # type: ignore[attr-defined]

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class BufferedStreamReader:
    """Lines, exact byte counts and stream views on top of an ReceiveBuffers.

    `idle` is the longest silence tolerated while waiting for more bytes (a stall timeout, renewed by every
    arrival), not a deadline for the whole call.
    """

    def __init__(self, buffers: ReceiveBuffers) -> None:
        self._buffers = buffers
        self._view = memoryview(b"")
        self._pos = 0
        self.bytes_read = 0

    async def _refill(self, idle: float | None, gather: int = 1, linger: float = 0.002) -> bool:
        chunk = await self._buffers.next_chunk(idle, gather=gather, linger=linger)
        if chunk is None:
            return False
        self._view, self._pos = chunk, 0
        return True

    async def readline(self, idle: float | None, limit: int = 1 << 16) -> bytes | None:
        """One line without its line ending (\\r\\n or a bare \\n), or None when the peer closed first."""
        line = bytearray()
        while True:
            # Search the pool buffer in place: a chunk may be a megabyte, the line a few bytes.
            owner = self._view.obj
            assert isinstance(owner, bytes | bytearray)
            found = owner.find(b"\n", self._pos, len(self._view))
            end = len(self._view) if found < 0 else found
            line += self._view[self._pos : end]
            if found >= 0:
                self._consume(end + 1 - self._pos)
                return bytes(line[:-1] if line.endswith(b"\r") else line)
            self._consume(end - self._pos)
            if len(line) > limit:
                raise ValueError(f"a reply line longer than {limit} bytes")
            if not await self._refill(idle):
                return None

    async def readexactly(self, size: int, idle: float | None) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            if self._pos == len(self._view) and not await self._refill(idle):
                return None
            take = min(size - len(data), len(self._view) - self._pos)
            data += self._view[self._pos : self._pos + take]
            self._consume(take)
        return bytes(data)

    async def read_some(
        self, limit: int, idle: float | None, *, gather: int = 1, linger: float = 0.002
    ) -> memoryview | None:
        """Up to `limit` bytes as a view into the pool (valid until the next read), or None at end of stream.

        `gather`: prefer waiting (up to `linger` seconds) for at least this many bytes over returning a small view.
        """
        if self._pos == len(self._view) and not await self._refill(idle, gather, linger):
            return None
        take = min(limit, len(self._view) - self._pos)
        view = self._view[self._pos : self._pos + take]
        self._consume(take)
        return view

    async def detach(self) -> bytes:
        """Hand over: every byte received and not yet read, in order; the buffers read nothing more."""
        rest = bytes(self._view[self._pos :])
        self._consume(len(rest))
        self._view, self._pos = memoryview(b""), 0
        return rest + await self._buffers.detach()

    def _consume(self, size: int) -> None:
        self._pos += size
        self.bytes_read += size
