"""The raw RESP2 connection of the snapshot's SYNC stream: TCP or TLS, AUTH, the handshake, then the RDB.

Only the replication protocol uses it (redis.replication). After SYNC the server stops speaking RESP: it sends
keep-alive newlines while it forks, then the RDB as `$<length>` or `$EOF:<40-byte mark>` framing of unknown size
with the mark at its end, and expects a replica to stay silent; redis-py reads replies, not such a stream, and
would buffer it through its own parser. This connection receives straight into a bounded pool of buffers
(receive_buffers) with back-pressure instead. Every ordinary command elsewhere goes through redis-py
(redis.client), which shares `Timeouts`, `RespError` and the TLS context (`ssl_context`) with this module.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from typing import TypeAlias

from redisbackup.domain.source import ConnectionSettings, NodeAddress, TlsSettings
from redisbackup.redis.faults import (
    ConnectionLost,
    RedisUnreachable,
    UnexpectedReply,
    fault_for_error,
)
from redisbackup.redis.receive_buffers import DEFAULT_CHUNK_SIZE, DEFAULT_DEPTH, BufferedStreamReader, ReceiveBuffers

log = logging.getLogger(__name__)

Reply: TypeAlias = "str | int | bytes | list[Reply] | RespError | None"


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `first_byte` is long because the server forks and, for disk-based SYNC, saves before sending."""

    connect: float = 10.0  # TCP connect and TLS handshake
    reply: float = 30.0  # each handshake command
    first_byte: float = 600.0  # SYNC until the RDB starts (keep-alives do not extend it)
    stall: float = 60.0  # silence in the middle of the RDB (Redis's own repl-timeout is 60 s)


@dataclass(frozen=True)
class RespError:
    message: str


def encode_command(*args: str | bytes | int) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
    return b"".join(parts)


def ssl_context(settings: TlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_file, cadata=settings.ca_data)
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class RedisConnection:
    """Use `await RedisConnection.open(...)`, then `call()`; `close()` when done (idempotent)."""

    def __init__(
        self, node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts, buffers: ReceiveBuffers
    ) -> None:
        self.node = node
        self.settings = settings
        self.timeouts = timeouts
        self.buffers = buffers
        self.reader = BufferedStreamReader(buffers)
        assert isinstance(buffers.transport, asyncio.WriteTransport)
        self._transport: asyncio.WriteTransport = buffers.transport

    @classmethod
    async def open(
        cls,
        node: NodeAddress,
        settings: ConnectionSettings,
        timeouts: Timeouts | None = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        depth: int = DEFAULT_DEPTH,
    ) -> RedisConnection:
        """Connect (and TLS-handshake) within `timeouts.connect`, then AUTH when credentials are set."""
        timeouts = timeouts or Timeouts()
        loop = asyncio.get_running_loop()
        tls = settings.tls
        try:
            async with asyncio.timeout(timeouts.connect):
                if node.is_unix_socket:
                    _, buffers = await loop.create_unix_connection(
                        lambda: ReceiveBuffers(chunk_size=chunk_size, depth=depth), node.host
                    )
                else:
                    _, buffers = await loop.create_connection(
                        lambda: ReceiveBuffers(chunk_size=chunk_size, depth=depth),
                        node.host,
                        node.port,
                        ssl=ssl_context(tls) if tls else None,
                        server_hostname=(tls.server_name or node.host) if tls else None,
                    )
        except ssl.SSLCertVerificationError as error:
            raise RedisUnreachable(
                f"TLS to {node} failed certificate verification: {error.verify_message}. Trust the CA that signed "
                "the server's certificate (tls CA secret or --ca) and, when the certificate names a DNS name rather "
                "than the Pod IP, set the TLS server name.",
                transient=False,
            ) from error
        except ssl.SSLError as error:
            raise RedisUnreachable(
                f"TLS handshake with {node} failed ({error.reason or error}). Is TLS enabled on that port, and "
                "does the server require a client certificate?",
                transient=False,
            ) from error
        except (OSError, TimeoutError) as error:
            reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
            raise RedisUnreachable(
                f"cannot connect to Redis at {node}: {reason}. Check that the node is running and listening on that "
                "address and port, and that no NetworkPolicy or firewall blocks the operator."
            ) from error
        sock = buffers.transport.get_extra_info("socket") if buffers.transport else None
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = cls(node, settings, timeouts, buffers)
        try:
            await connection.authenticate()
        except BaseException:
            connection.abort()
            raise
        return connection

    async def authenticate(self) -> None:
        credentials = self.settings.credentials
        if credentials.password is None:
            return
        args = (
            ("AUTH", credentials.username, credentials.password)
            if credentials.username
            else (
                "AUTH",
                credentials.password,
            )
        )
        reply = await self.command(*args)
        if isinstance(reply, RespError):
            if "without any password configured" in reply.message:
                # The secret is stale, not wrong: the server needs no password. Go on, as redis-cli does.
                log.warning("%s needs no password, but one was given; continuing without AUTH", self.node)
                return
            raise fault_for_error(str(self.node), "AUTH", reply.message, credentials)

    async def command(self, *args: str | bytes | int) -> Reply:
        """Send one command and read its reply; error replies come back as RespError, not raised."""
        self.send(*args)
        return await self.read_reply(self.timeouts.reply, str(args[0]))

    async def call(self, *args: str | bytes | int) -> Reply:
        """Like `command`, but an error reply raises the matching fault."""
        reply = await self.command(*args)
        if isinstance(reply, RespError):
            name = " ".join(str(a) for a in args[:2]) if str(args[0]).upper() == "CLUSTER" else str(args[0])
            raise fault_for_error(str(self.node), name.upper(), reply.message, self.settings.credentials)
        return reply

    def send(self, *args: str | bytes | int) -> None:
        if self._transport.is_closing():
            raise ConnectionLost(f"the connection to {self.node} is closed")
        self._transport.write(encode_command(*args))

    async def read_line(self, idle: float, during: str) -> bytes:
        """One reply line; `idle` is the longest silence tolerated (see BufferedStreamReader)."""
        try:
            line = await self.reader.readline(idle)
        except TimeoutError:
            raise ConnectionLost(
                f"{self.node} did not answer {during} within {idle:g}s; it may be overloaded or paused"
            ) from None
        except ValueError as error:
            raise UnexpectedReply(f"{self.node} sent {error} to {during}: is it a Redis server?") from None
        except OSError as error:
            raise ConnectionLost(f"the connection to {self.node} broke during {during}: {error}") from error
        if line is None:
            raise ConnectionLost(
                f"{self.node} closed the connection during {during}. Check its log: it may have been restarted, "
                "or it dropped the client (maxclients, timeout, protected-mode)."
            )
        return line

    async def read_reply(self, idle: float, during: str) -> Reply:
        line = await self.read_line(idle, during)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = await self.reader.readexactly(size + 2, idle)
            if data is None:
                raise ConnectionLost(f"{self.node} closed the connection in the middle of its reply to {during}")
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [await self.read_reply(idle, during) for _ in range(count)]
        raise UnexpectedReply(
            f"{self.node} answered {during} with {line[:40]!r}, which is not RESP: is this address a Redis server?"
        )

    @property
    def plain(self) -> bool:
        """TCP or a Unix socket without TLS: its socket can be read by a blocking reader (asyncio's TLS lives in
        the transport, so a TLS stream stays on the loop)."""
        return self._transport.get_extra_info("sslcontext") is None and self._descriptor() >= 0

    async def take_socket(self) -> tuple[socket.socket | None, bytes]:
        """Hand the rest of the stream to a blocking reader: a socket of its own (a duplicate of this connection's
        descriptor, so `close()` here still ends the link) and the bytes already received. None instead of a
        socket when the peer has closed already: the bytes are then all there is. Only for `plain` connections.
        The caller closes the socket it gets; this connection never reads again."""
        pending = await self.reader.detach()
        descriptor = self._descriptor()
        if descriptor < 0 or self._transport.is_closing():
            return None, pending
        taken = socket.socket(fileno=os.dup(descriptor))
        taken.settimeout(self.timeouts.stall)
        return taken, pending

    def _descriptor(self) -> int:
        raw = self._transport.get_extra_info("socket")  # asyncio's TransportSocket: fileno() is -1 once closed
        return -1 if raw is None else int(raw.fileno())

    def close(self) -> None:
        """Close now. A replica link must never outlive the transfer, so nothing is awaited."""
        if not self._transport.is_closing():
            self._transport.close()

    def abort(self) -> None:
        self._transport.abort()
