"""A scripted stand-in for a Redis server's replication handshake, to test framing and error handling.

Only for unit tests of our protocol code: every behaviour it shows (keep-alives, `$EOF:` marks split across TCP
segments, error replies) is also exercised against real redis-server in tests/e2e.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field

INFO = (
    b"# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n# Memory\r\nused_memory:1000000\r\n"
    b"# Replication\r\nrole:master\r\nmaster_repl_offset:42\r\n"
)


@dataclass
class FakeRedis:
    rdb: bytes = b""
    transfer: str = "diskless"  # or "disk"
    segments: list[int] = field(default_factory=list)  # sizes the payload is cut into before sending
    segment_delay: float = 0.0  # seconds between segments (a server producing its RDB slowly)
    keepalives: int = 1
    password: str | None = None
    replies: dict[str, bytes] = field(default_factory=dict)  # command → raw reply overriding the default
    sync_prelude: bytes = b""  # sent instead of keep-alives + header when set (e.g. an error reply)
    saving_forever: bool = False  # send a keep-alive every 50 ms and never start the RDB
    after_rdb: bytes = b""  # what a pre-7.0 server would stream after the RDB
    cut_after: int | None = None  # close the connection after this many payload bytes
    pause_after: int | None = None  # stop sending (but stay connected) after this many payload bytes
    # Redis 7.0+ drops a `REPLCONF rdb-only 1` replica as soon as its RDB is sent; False: a server that keeps the
    # link (waiting for REPLCONF ACK, as before 7.0), so that only the client can end it.
    drops_rdb_only: bool = True
    commands: list[list[bytes]] = field(default_factory=list)
    client_closed_after_rdb: asyncio.Event = field(default_factory=asyncio.Event)
    host: str = "127.0.0.1"
    port: int = 0

    async def __aenter__(self) -> FakeRedis:
        self._handlers: set[asyncio.Task[None]] = set()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._handlers.add(task)
            await self._serve(reader, writer)

        self._server = await asyncio.start_server(serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        self._server.close()
        await self._server.wait_closed()

    async def _read_command(self, reader: asyncio.StreamReader) -> list[bytes] | None:
        line = await reader.readline()
        if not line:
            return None
        count = int(line[1:])
        args = []
        for _ in range(count):
            size = int((await reader.readline())[1:])
            args.append((await reader.readexactly(size + 2))[:-2])
        return args

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (args := await self._read_command(reader)) is not None:
                self.commands.append(args)
                name = args[0].decode().upper()
                key = " ".join(a.decode() for a in args[:3]).upper() if name == "REPLCONF" else name
                if key in self.replies or name in self.replies:
                    writer.write(self.replies.get(key, self.replies.get(name, b"")))
                elif name == "AUTH":
                    ok = self.password is not None and args[-1].decode() == self.password
                    writer.write(b"+OK\r\n" if ok else b"-WRONGPASS invalid username-password pair\r\n")
                elif name == "INFO":
                    writer.write(b"$%d\r\n%s\r\n" % (len(INFO), INFO))
                elif name == "REPLCONF":
                    writer.write(b"+OK\r\n")
                elif name == "SYNC":
                    await self._sync(reader, writer)
                    return
                else:
                    writer.write(b"-ERR unknown command\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _sync(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.sync_prelude:
            writer.write(self.sync_prelude)
            await writer.drain()
            await reader.read()  # wait for the client to go away
            return
        while self.saving_forever:
            writer.write(b"\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        for _ in range(self.keepalives):
            writer.write(b"\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        mark = secrets.token_hex(20).encode()
        if self.transfer == "diskless":
            writer.write(b"$EOF:" + mark + b"\r\n")
            payload = self.rdb + mark
        else:
            writer.write(b"$%d\r\n" % len(self.rdb))
            payload = self.rdb + self.after_rdb
        sent = 0
        for size in [*self.segments, len(payload)]:
            piece = payload[sent : sent + size]
            if self.cut_after is not None and sent + len(piece) > self.cut_after:
                writer.write(piece[: self.cut_after - sent])
                await writer.drain()
                writer.transport.abort()
                return
            if self.pause_after is not None and sent + len(piece) > self.pause_after:
                writer.write(piece[: self.pause_after - sent])
                await writer.drain()
                await reader.read()
                return
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(self.segment_delay)  # give each piece its own TCP segment, usually
            sent += len(piece)
            if sent >= len(payload):
                break
        if self.drops_rdb_only and [b"REPLCONF", b"rdb-only", b"1"] in self.commands:
            writer.transport.close()
            return
        # A pre-7.0 server now waits for REPLCONF ACK (never sent): the client must close on its own.
        if await reader.read() == b"":
            self.client_closed_after_rdb.set()
