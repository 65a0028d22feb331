"""A TCP proxy that damages traffic on purpose, for fault tests against real servers.

Put it between a client and a real redis-server (or S3 server): it forwards both directions and, in the
server-to-client direction, can flip one byte at a given offset (a bit error the TCP checksum missed, a bad
NIC, a corrupting middlebox) or cut the connection after a given number of bytes. It runs in the test's own
event loop:

    async with FaultProxy(node.host, node.port, flip_at=200_000) as proxy:
        ... connect to proxy.host:proxy.port ...
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from devstack.net import free_port


@dataclass
class FaultProxy:
    target_host: str
    target_port: int
    flip_at: int | None = None  # offset in the server-to-client stream of the byte to damage (XOR 0x01)
    cut_at: int | None = None  # close both sides once this many server-to-client bytes went through
    host: str = "127.0.0.1"
    port: int = 0
    downstream_bytes: int = 0
    flipped: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> FaultProxy:
        self.port = free_port(self.host)
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        up = asyncio.create_task(self._pump(client_reader, server_writer, downstream=False))
        down = asyncio.create_task(self._pump(server_reader, client_writer, downstream=True))
        self._tasks |= {up, down}
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_writer, server_writer):
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(1 << 16):
                if downstream:
                    data = self._damage(data)
                    if data is None:
                        return
                writer.write(data)
                await writer.drain()

    def _damage(self, data: bytes) -> bytes | None:
        start, self.downstream_bytes = self.downstream_bytes, self.downstream_bytes + len(data)
        if self.cut_at is not None and self.downstream_bytes > self.cut_at:
            return None
        if self.flip_at is not None and not self.flipped and start <= self.flip_at < self.downstream_bytes:
            damaged = bytearray(data)
            damaged[self.flip_at - start] ^= 0x01
            self.flipped = True
            return bytes(damaged)
        return data
