"""Reading one RDB from a node over the replication protocol, as `redis-cli --rdb` does.

Handshake: AUTH, INFO (engine, version), `REPLCONF capa eof` (we understand diskless framing),
`REPLCONF rdb-only 1` (Redis ≥ 7.0: send the RDB and no replication stream after it; older servers refuse it,
which is fine because we close after the RDB anyway), then `SYNC`. The server forks exactly as for BGSAVE and
answers, after any number of "\\n" keep-alives, with either

    $EOF:<40 random bytes>\\r\\n <RDB> <the same 40 bytes>     diskless (repl-diskless-sync yes)
    $<length>\\r\\n <RDB of exactly length bytes>              disk-based: the server saved dump.rdb first

Nothing follows the mark until a replica sends REPLCONF ACK, which we never do, so "the last 40 bytes read are
the mark" is the end (the same test Redis's own replica code uses). The connection is closed the moment the RDB
is complete: we must never linger as a replica the primary feeds and waits for. The one wait: an rdb-only link
is given a moment for the server to drop it itself, which it does as soon as its fork is done (RELEASE_WAIT).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.redis.connection import RedisConnection, RespError, Timeouts
from redisbackup.redis.faults import ConnectionLost, RedisBusy, RedisNotReady, UnexpectedReply, fault_for_error
from redisbackup.redis.info import ServerInfo, read_server_info
from redisbackup.redis.receive_buffers import DEFAULT_CHUNK_SIZE, DEFAULT_DEPTH

log = logging.getLogger(__name__)

Transfer = Literal["diskless", "disk"]
EOF_MARK_SIZE = 40
# While the RDB flows, pause 4 ms after each small read (see ReceiveBuffers.nap) and hand the consumer ~512 KiB at a
# time (or whatever came within 20 ms). Measured against reading every packet: about half the CPU per GB, the same
# throughput. The kernel's socket buffer (autotuned to MBs) holds the data meanwhile; a large read never naps.
BULK_READ_NAP = 0.004
BULK_GATHER_LINGER = 0.02
# What a pumping thread receives at a time: small enough to stay in the CPU's cache from the kernel's copy through
# the checksums to the store's copy, large enough that the loop's Python costs little per byte.
THREAD_CHUNK = 256 << 10
# A server drops an rdb-only replica itself once its fork has finished the transfer ("RDB transfer completed, rdb
# only replica ... should be disconnected asap"), a few ms after the last byte. Waiting that long, at most this
# long, makes a snapshot (and its slot of limits.maxConcurrentSnapshots) last until the server's snapshot is over,
# not only our reading of it.
RELEASE_WAIT = 1.0


class _Unframer:
    """The RDB's own bytes out of what the connection receives: up to the announced length, or up to the EOF mark
    (the last 40 bytes read are held back until more come, as they may be the mark)."""

    def __init__(self, size: int | None, mark: bytes) -> None:
        self._remaining = size
        self._mark = mark
        self._held = b""
        self.complete = size == 0

    def feed(self, view: memoryview | bytes) -> list[memoryview | bytes]:
        """The RDB bytes in `view`, in order (views into it: valid as long as it is)."""
        if self._remaining is not None:
            if len(view) > self._remaining:  # a pre-7.0 server streaming commands right after the RDB
                view = view[: self._remaining]
            self._remaining -= len(view)
            self.complete = self._remaining == 0
            return [view] if len(view) else []  # nothing already received when a thread takes over: no piece
        out: list[memoryview | bytes] = []
        if len(view) >= EOF_MARK_SIZE:
            body, tail = view[: len(view) - EOF_MARK_SIZE], bytes(view[len(view) - EOF_MARK_SIZE :])
            if self._held:
                out.append(self._held)
        else:
            joined = self._held + bytes(view)
            cut = max(0, len(joined) - EOF_MARK_SIZE)
            body, tail = memoryview(joined)[:cut], joined[cut:]
        if len(body):
            out.append(body)
        self.complete = tail == self._mark
        self._held = tail
        return out


@dataclass
class RdbStream:
    """An RDB arriving from `node`. Iterate it for views of the RDB bytes (valid until the next iteration), or,
    when `threadable`, `pump` it through a blocking consumer on a thread of its own."""

    node: NodeAddress
    server: ServerInfo
    transfer: Transfer
    size: int | None  # exact for disk-based transfers, unknown (None) for diskless ones
    rdb_only: bool  # False: a pre-7.0 server that would go on to stream commands if we stayed
    started_at: dt.datetime  # when SYNC was sent: the moment the snapshot represents (the fork follows it)
    _connection: RedisConnection = field(repr=False)
    _mark: bytes = field(default=b"", repr=False)
    _gather: int = field(default=1, repr=False)
    bytes_received: int = 0
    complete: bool = False

    def __aiter__(self) -> AsyncIterator[memoryview | bytes]:
        return self._frames()

    @property
    def threadable(self) -> bool:
        """Whether `pump` may read this stream: a connection without TLS (asyncio's TLS lives in its transport)."""
        return self._connection.plain

    async def _read(self) -> memoryview:
        timeout = self._connection.timeouts.stall
        try:
            view = await self._connection.reader.read_some(
                1 << 30, timeout, gather=self._gather, linger=BULK_GATHER_LINGER
            )
        except TimeoutError:
            raise self._stalled() from None
        except OSError as error:
            raise self._lost(str(error)) from error
        if view is None:
            raise self._lost("the server closed the connection")
        return view

    def _stalled(self) -> ConnectionLost:
        return ConnectionLost(
            f"{self.node} stopped sending the RDB for {self._connection.timeouts.stall:g}s after "
            f"{self.bytes_received} bytes; the server may be overloaded or the network stalled. Nothing was stored; "
            "the snapshot will be retried."
        )

    def _lost(self, why: str) -> ConnectionLost:
        expected = f" of {self.size}" if self.size is not None else ""
        return ConnectionLost(
            f"the connection to {self.node} was lost after {self.bytes_received}{expected} bytes of the RDB ({why}). "
            "The server may have restarted or dropped the replica link (client-output-buffer-limit replica, "
            "repl-timeout); nothing was stored and the snapshot will be retried."
        )

    async def _frames(self) -> AsyncIterator[memoryview | bytes]:
        unframer = _Unframer(self.size, self._mark)
        while not unframer.complete:
            for body in unframer.feed(await self._read()):
                self.bytes_received += len(body)
                yield body
        await self._done()

    async def pump(self, consume: Callable[[memoryview | bytes], None], *, chunk_size: int = THREAD_CHUNK) -> None:
        """Read the whole RDB on a thread of its own and pass each piece to `consume`, on that thread.

        One thread per stream does what `redis-cli --rdb` does, plus whatever `consume` does (the checksums and the
        store's write): a plain loop of calls that release the GIL, over a `chunk_size` buffer that stays in the
        CPU's cache from the kernel's copy to the store's. On the event loop each 16 KiB packet would cost a turn
        of the loop, and every byte a trip through memory per stage. A piece is valid only during its call.
        Cancelling shuts the socket down, waits for the thread to stop, and raises CancelledError."""
        if not self.threadable:
            raise RuntimeError(f"{self.node}: a TLS stream is read on the event loop (iterate it)")
        sock, pending = await self._connection.take_socket()
        # Allocated here, on the loop's thread (from the main malloc arena): see S3Writer.write_from_thread.
        buffer = memoryview(bytearray(chunk_size))
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if error is None:
                finished.set_result(None)
            else:
                finished.set_exception(error)

        def run() -> None:
            outcome: BaseException | None = None
            try:
                self._pump(sock, pending, consume, buffer)
            except BaseException as error:  # every outcome goes back to the loop
                outcome = error
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, outcome)

        try:
            threading.Thread(target=run, name=f"rdb {self.node}", daemon=True).start()
            try:
                await asyncio.shield(finished)
            except asyncio.CancelledError:
                if sock is not None:  # the thread's recv returns at once; nothing else interrupts it
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                await _outlive(finished)
                raise
        finally:
            # Closed here, never by the thread: the loop may still shut it down until the thread is done.
            if sock is not None:
                sock.close()
            self._connection.close()
        self.complete = True

    def _pump(
        self,
        sock: socket.socket | None,
        pending: bytes,
        consume: Callable[[memoryview | bytes], None],
        buffer: memoryview,
    ) -> None:
        unframer = _Unframer(self.size, self._mark)
        received: memoryview | bytes = pending
        while True:
            for body in unframer.feed(received):
                self.bytes_received += len(body)
                consume(body)
            if unframer.complete:
                break
            if sock is None:
                raise self._lost("the server closed the connection")
            try:
                count = sock.recv_into(buffer)
            except TimeoutError:
                raise self._stalled() from None
            except OSError as error:
                raise self._lost(str(error)) from error
            if count == 0:
                raise self._lost("the server closed the connection")
            received = buffer[:count]
        if sock is not None and self.rdb_only:
            self._wait_for_release(sock)

    def _wait_for_release(self, sock: socket.socket) -> None:
        """The thread's `_server_released`: wait (at most RELEASE_WAIT) for the server to close the link."""
        deadline = time.monotonic() + RELEASE_WAIT
        scratch = bytearray(1 << 16)
        with contextlib.suppress(OSError):  # a timeout is an OSError too
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if sock.recv_into(scratch) == 0:
                    return

    async def _done(self) -> None:
        self.complete = True
        try:
            if self.rdb_only:
                await self._server_released()
        finally:
            self._connection.close()

    async def _server_released(self) -> None:
        """Wait (at most RELEASE_WAIT) for the server to close an rdb-only link; anything it sends is dropped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RELEASE_WAIT
        with contextlib.suppress(TimeoutError, OSError):
            while (left := deadline - loop.time()) > 0:
                if await self._connection.reader.read_some(1 << 16, left) is None:
                    return


async def _outlive(thread_done: asyncio.Future[None]) -> None:
    """Wait for a pumping thread to stop, through further cancellations: its buffer and its consumer's writer must
    not be touched (aborted, reused) while it runs. It stops promptly once its socket is shut down."""
    while not thread_done.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([thread_done])  # never raises the thread's error, never cancels the future
    thread_done.exception()  # retrieved (not logged as "never retrieved"): the cancellation is what is reported


async def _bulk_header(connection: RedisConnection, node: NodeAddress) -> tuple[Transfer, int | None, bytes]:
    """Wait through keep-alives for the `$` line that starts the RDB."""
    timeouts = connection.timeouts
    deadline = _now() + timeouts.first_byte
    while True:
        try:
            remaining = deadline - _now()
            if remaining <= 0:
                raise TimeoutError
            line = await connection.read_line(min(remaining, timeouts.stall), "SYNC")
        except (TimeoutError, ConnectionLost):
            if _now() < deadline:
                raise
            raise RedisBusy(
                f"{node} accepted SYNC but did not start sending the RDB within {timeouts.first_byte:g}s (it kept "
                "the connection alive: it is still forking or saving). Raise the first-byte timeout for very large "
                "data sets on slow disks, or snapshot a replica."
            ) from None
        if line == b"":
            continue  # keep-alive: the server is preparing the RDB
        if line.startswith(b"-"):
            error = line[1:].decode(errors="replace")
            raise fault_for_error(str(node), "SYNC", error, connection.settings.credentials)
        if line.startswith(b"$EOF:") and len(line) == 5 + EOF_MARK_SIZE:
            return "diskless", None, line[5:]
        if line.startswith(b"$") and line[1:].isdigit():
            return "disk", int(line[1:]), b""
        raise UnexpectedReply(
            f"{node} answered SYNC with {line[:60]!r} instead of an RDB: is it a Redis server (not a proxy)?"
        )


def _now() -> float:
    return asyncio.get_running_loop().time()


@asynccontextmanager
async def open_rdb_stream(
    node: NodeAddress,
    settings: ConnectionSettings,
    timeouts: Timeouts | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    depth: int = DEFAULT_DEPTH,
) -> AsyncIterator[RdbStream]:
    """Start a snapshot of `node` and yield the RDB stream; the connection is closed on leaving, always.

    Memory: at most `depth x chunk_size` received bytes are held; the server waits when the consumer is slower.
    """
    connection = await RedisConnection.open(node, settings, timeouts, chunk_size=chunk_size, depth=depth)
    try:
        server = await read_server_info(connection)
        if server.loading:
            raise RedisNotReady(f"{node} is loading its data set into memory; the snapshot waits", retry_after=10)
        await connection.call("REPLCONF", "capa", "eof")
        rdb_only = not isinstance(await connection.command("REPLCONF", "rdb-only", "1"), RespError)
        if not rdb_only:
            log.info("%s (%s %s) does not know REPLCONF rdb-only", node, server.engine, server.engine_version)
        started_at = dt.datetime.now(dt.UTC)
        connection.send("SYNC")
        transfer, size, mark = await _bulk_header(connection, node)
        connection.buffers.nap = BULK_READ_NAP
        log.debug("%s: %s transfer of %s bytes", node, transfer, size if size is not None else "unknown")
        yield RdbStream(
            node=node,
            server=server,
            transfer=transfer,
            size=size,
            rdb_only=rdb_only,
            started_at=started_at,
            _connection=connection,
            _mark=mark,
            _gather=max(1, chunk_size // 2),
        )
    finally:
        connection.abort()  # a no-op after a complete RDB (already closed); cuts the replica link otherwise
