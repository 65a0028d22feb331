"""A TCP proxy that damages traffic on purpose, for fault tests against real servers.

Put it between a client and a real redis-server (or S3 server): it forwards both directions and, in the
server-to-client direction, can flip one byte at a given offset (a bit error the TCP checksum missed, a bad
NIC, a corrupting middlebox) or cut the connection after a given number of bytes. It runs in the test's own
event loop:

    async with FaultProxy(node.host, node.port, flip_at=200_000) as proxy:
        ... connect to proxy.host:proxy.port ...

`HttpFaultProxy` does the same for an HTTP server (the S3 gateway) per request, from a thread of its own:
latency, S3 error responses (500/503), connection resets, and the whole server going down and coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

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


# ------------------------------------------------------------------------------------------- HTTP (S3) faults
@dataclass(frozen=True)
class SeenRequest:
    """One request that reached the HTTP proxy: what S3 call it was, and what the proxy did with it."""

    method: str
    path: str
    query: str
    action: str  # "forwarded", "error 503", "reset", "refused"
    copy_source: bool = False  # the request carries x-amz-copy-source: S3 copies an object itself

    @property
    def is_server_side_copy(self) -> bool:
        return self.method == "PUT" and self.copy_source

    @property
    def is_part_upload(self) -> bool:
        return self.method == "PUT" and "partNumber=" in self.query

    @property
    def is_delete(self) -> bool:
        return self.method == "DELETE" or (self.method == "POST" and "delete" in self.query.split("&"))


@dataclass
class Rule:
    """What to do to requests that `match`: delay them, answer with an error status, or reset the connection.

    `count` bounds how many requests the rule applies to (None: all); `then_down` takes the whole server down
    (every connection refused) when the rule first fires, as if the S3 server process had stopped.
    """

    match: Callable[[SeenRequest], bool] = lambda _request: True
    delay: float = 0.0
    delay_response: float = 0.0  # forward the request at once, hold the server's answer this long
    status: int | None = None
    reset: bool = False
    count: int | None = None
    then_down: bool = False
    fired: int = 0


_S3_ERRORS = {403: "AccessDenied", 500: "InternalError", 503: "SlowDown"}


class HttpFaultProxy:
    """A reverse proxy in front of an HTTP server (SeaweedFS's S3 gateway) that injects faults per request.

    It runs in a thread of its own (the operator under test is another process and the tests are synchronous),
    forwards requests unchanged (the Host header too, so SigV4 signatures still verify) and applies the first
    matching `Rule`: latency, an S3 error document with status 500/503, a connection reset. `down()` closes the
    listener and every open connection (connection refused, as for a stopped server) and `up()` listens again on
    the same port. Every request is recorded in `seen`.
    """

    def __init__(self, target_url: str, host: str = "127.0.0.1") -> None:
        self.target_url = target_url.rstrip("/")
        self.host = host
        self.port = free_port(host)
        self.rules: list[Rule] = []
        self.seen: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-fault-proxy", daemon=True)
        self._site: web.TCPSite | None = None
        self._down = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> HttpFaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def down(self) -> None:
        """Stop serving: the listener closes and open connections are cut (the S3 server has stopped)."""
        self._call(self._go_down())

    def up(self) -> None:
        """Serve again on the same port (the S3 server is back)."""
        self._call(self._go_up())

    def requests(self, predicate: Callable[[SeenRequest], bool] = lambda _r: True) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.seen if predicate(r)]

    # ------------------------------------------------------------------------------------------- internals
    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._app = web.Application(client_max_size=1 << 40)
        self._app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await self._go_up()

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    async def _go_up(self) -> None:
        self._down = False
        if self._site is None:
            self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await self._site.start()

    async def _go_down(self) -> None:
        self._down = True
        if self._site is not None:
            site, self._site = self._site, None
            await site.stop()
        server = self._runner.server
        if server is not None:
            for connection in list(server.connections):
                connection.force_close()

    def _rule_for(self, request: SeenRequest) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if (rule.count is None or rule.fired < rule.count) and rule.match(request):
                    rule.fired += 1
                    return rule
        return None

    def _record(self, request: SeenRequest, action: str) -> None:
        with self._lock:
            self.seen.append(SeenRequest(request.method, request.path, request.query, action, request.copy_source))

    async def _handle(self, incoming: web.Request) -> web.StreamResponse:
        request = SeenRequest(
            incoming.method, incoming.path, incoming.query_string, "", "x-amz-copy-source" in incoming.headers
        )
        if self._down:
            self._record(request, "refused")
            return self._reset(incoming)
        rule = self._rule_for(request)
        if rule is not None:
            if rule.then_down:
                self._record(request, "refused")
                await self._go_down()
                return self._reset(incoming)
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.reset:
                self._record(request, "reset")
                return self._reset(incoming)
            if rule.status is not None:
                self._record(request, f"error {rule.status}")
                await incoming.read()  # a real server reads the body before it answers
                return _s3_error(rule.status)
        self._record(request, "forwarded")
        return await self._forward(incoming, hold=rule.delay_response if rule is not None else 0.0)

    @staticmethod
    def _reset(incoming: web.Request) -> web.StreamResponse:
        if incoming.transport is not None:
            incoming.transport.abort()
        raise ConnectionResetError("fault proxy: connection reset on purpose")

    async def _forward(self, incoming: web.Request, *, hold: float = 0.0) -> web.StreamResponse:
        headers = {k: v for k, v in incoming.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = f"{self.target_url}{incoming.rel_url}"
        body = incoming.content if incoming.can_read_body else None
        async with self._session.request(
            incoming.method, url, headers=headers, data=body, allow_redirects=False, skip_auto_headers={"Content-Type"}
        ) as upstream:
            await asyncio.sleep(hold)  # the server has done the work; its answer is late
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    response.headers[key] = value
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(incoming)
            async for chunk in upstream.content.iter_chunked(1 << 16):
                await response.write(chunk)
            await response.write_eof()
            return response


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _s3_error(status: int) -> web.Response:
    code = _S3_ERRORS.get(status, "ServiceUnavailable")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>"
    )
    return web.Response(status=status, text=body, content_type="application/xml")
