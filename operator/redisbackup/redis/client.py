"""Ordinary commands to one Redis node, through redis-py (`redis.asyncio`).

Everything but the snapshot's SYNC goes through here: INFO, CLUSTER INFO/SHARDS/NODES, the restore path's DUMP,
RESTORE, CLUSTER ADDSLOTSRANGE/MEET/REPLICATE, verification's SCAN and INFO keyspace, the throwaway server's PING.
(The SYNC stream keeps its own connection, `redis.connection`: after SYNC the server stops speaking RESP — it
sends keep-alive newlines, then an RDB framed by `$EOF:<mark>` of unknown length — which redis-py cannot read.)

`RedisClient` keeps what the rest of the operator relies on: one connection per node, opened (and AUTHed) at once
within `timeouts.connect`, replies exactly as the server sent them (no redis-py reply parsing: bytes for bulk and
simple strings, ints, lists), error replies either returned (`command`) or raised as the fault a user can act on
(`call`), connection problems as RedisUnreachable/ConnectionLost with the same wording as the SYNC path, and no
retries of its own (the operator decides when to try again). TLS uses the same context as the SYNC path, including
a server name to verify that differs from the address (`TlsSettings.server_name`).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis.asyncio
import redis.exceptions
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from redisbackup.domain.source import ConnectionSettings, NodeAddress, RedisCredentials, TlsSettings
from redisbackup.redis.connection import Reply, RespError, Timeouts, ssl_context
from redisbackup.redis.faults import ConnectionLost, RedisUnreachable, fault_for_error

log = logging.getLogger(__name__)

_NO_PASSWORD_CONFIGURED = "without any password configured"


class Commands(Protocol):
    """What reading a node's state needs: a RedisClient, or the SYNC path's raw connection before SYNC."""

    node: NodeAddress

    async def call(self, *args: str | bytes | int) -> Reply: ...


class _TlsConnection(Connection):
    """A TCP connection wrapped in our SSL context, verifying `server_hostname` (SNI and certificate name)."""

    def __init__(self, *, tls: TlsSettings, **kwargs: Any) -> None:
        self._tls = tls
        self._ssl_context = ssl_context(tls)
        super().__init__(**kwargs)

    def _connection_arguments(self) -> Mapping[str, Any]:
        arguments = dict(super()._connection_arguments())
        return {**arguments, "ssl": self._ssl_context, "server_hostname": self._tls.server_name or self.host}


# What redis-py raises for an error reply. NOAUTH comes as AuthenticationError, a ConnectionError to redis-py,
# though the connection is fine: it is the server's answer to the command.
_ERROR_REPLIES = (redis.exceptions.ResponseError, redis.exceptions.AuthenticationError)


def error_text(error: redis.exceptions.RedisError) -> str:
    """The error reply as the server sent it: redis-py drops a known code (ERR, WRONGPASS, LOADING …) from the
    message and keeps it in `status_code`; the fault mapping and the messages read the whole reply."""
    message = str(error.args[0]) if error.args else str(error)
    code = getattr(error, "status_code", None)
    if code and not message.startswith(code):
        return f"{code} {message}"
    return message


def _connection_pool(
    node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts, credentials: RedisCredentials
) -> redis.asyncio.ConnectionPool:
    common: dict[str, Any] = {
        "username": credentials.username if credentials.password is not None else None,
        "password": credentials.password,
        "socket_timeout": timeouts.reply,
        "socket_connect_timeout": timeouts.connect,
        "retry": Retry(NoBackoff(), 0),  # the operator decides when to try again
        "driver_info": None,  # no CLIENT SETINFO: nothing beyond what a snapshot needs (ACL users are narrow)
        "max_connections": 1,
        "protocol": 2,  # RESP2, no HELLO: a narrow ACL user may not run it, and the SYNC path speaks RESP2 too
    }
    if node.is_unix_socket:
        return redis.asyncio.ConnectionPool(connection_class=UnixDomainSocketConnection, path=node.host, **common)
    if settings.tls is not None:
        return redis.asyncio.ConnectionPool(
            connection_class=_TlsConnection, host=node.host, port=node.port, tls=settings.tls, **common
        )
    return redis.asyncio.ConnectionPool(host=node.host, port=node.port, **common)


class RedisClient:
    """Use `await RedisClient.open(...)`, then `call()`/`command()`/`pipeline()`; `await close()` when done."""

    def __init__(self, node: NodeAddress, settings: ConnectionSettings, client: redis.asyncio.Redis) -> None:
        self.node = node
        self.settings = settings
        self._client = client
        client.response_callbacks.clear()  # replies as the server sent them

    @classmethod
    async def open(
        cls, node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts | None = None
    ) -> RedisClient:
        """Connect (and TLS-handshake, and AUTH when credentials are set) within `timeouts.connect`."""
        timeouts = timeouts or Timeouts()
        credentials = settings.credentials
        try:
            return await cls._connect(node, settings, timeouts, credentials)
        except redis.exceptions.AuthenticationError as error:
            if _NO_PASSWORD_CONFIGURED not in error_text(error):
                raise fault_for_error(str(node), "AUTH", error_text(error), credentials) from None
            # The secret is stale, not wrong: the server needs no password. Go on, as redis-cli does.
            log.warning("%s needs no password, but one was given; continuing without AUTH", node)
            return await cls._connect(node, settings, timeouts, RedisCredentials())

    @classmethod
    async def _connect(
        cls, node: NodeAddress, settings: ConnectionSettings, timeouts: Timeouts, credentials: RedisCredentials
    ) -> RedisClient:
        pool = _connection_pool(node, settings, timeouts, credentials)
        client = redis.asyncio.Redis(connection_pool=pool, single_connection_client=True)
        try:
            await client.initialize()
        except BaseException as error:
            await client.aclose(close_connection_pool=True)
            if isinstance(error, redis.exceptions.AuthenticationError):
                raise
            if isinstance(error, redis.exceptions.ResponseError):
                raise fault_for_error(str(node), "AUTH", error_text(error), credentials) from None
            if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | OSError):
                raise _unreachable(node, error) from error
            raise
        return cls(node, settings, client)

    async def command(self, *args: str | bytes | int) -> Reply:
        """Send one command and read its reply; error replies come back as RespError, not raised."""
        try:
            reply: Reply = await self._client.execute_command(*args)  # type: ignore[no-untyped-call]
        except _ERROR_REPLIES as error:
            return RespError(error_text(error))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            raise self._lost(str(args[0]), error) from error
        return reply

    async def call(self, *args: str | bytes | int) -> Reply:
        """Like `command`, but an error reply raises the matching fault."""
        reply = await self.command(*args)
        if isinstance(reply, RespError):
            name = " ".join(str(a) for a in args[:2]) if str(args[0]).upper() == "CLUSTER" else str(args[0])
            raise fault_for_error(str(self.node), name.upper(), reply.message, self.settings.credentials)
        return reply

    async def pipeline(self, commands: Sequence[Sequence[str | bytes | int]]) -> list[Reply]:
        """Send `commands` at once (no MULTI) on this connection and read every reply, error replies as RespError:
        a batch of DUMPs or RESTOREs costs one round trip. (redis-py's own pipeline takes a second connection.)"""
        connection = self._client.connection
        assert connection is not None, "the client is used after close()"
        replies: list[Reply] = []
        try:
            await connection.send_packed_command(connection.pack_commands(commands))
            for _ in commands:  # every reply, even after an error one, so the connection stays in step
                try:
                    replies.append(await connection.read_response())
                except _ERROR_REPLIES as error:
                    replies.append(RespError(error_text(error)))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            raise self._lost(str(commands[0][0]) if commands else "a pipeline", error) from error
        return replies

    def _lost(self, during: str, error: BaseException) -> ConnectionLost:
        if isinstance(error, redis.exceptions.TimeoutError | TimeoutError):
            return ConnectionLost(f"{self.node} did not answer {during} in time; it may be overloaded or paused")
        return ConnectionLost(f"the connection to {self.node} broke during {during}: {error}")

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)


def _unreachable(node: NodeAddress, error: BaseException) -> RedisUnreachable:
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return RedisUnreachable(
            f"TLS to {node} failed certificate verification: {cause.verify_message}. Trust the CA that signed "
            "the server's certificate (tls CA secret or --ca) and, when the certificate names a DNS name rather "
            "than the Pod IP, set the TLS server name.",
            transient=False,
        )
    if isinstance(cause, ssl.SSLError):
        return RedisUnreachable(
            f"TLS handshake with {node} failed ({cause.reason or cause}). Is TLS enabled on that port, and "
            "does the server require a client certificate?",
            transient=False,
        )
    cause = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, redis.exceptions.TimeoutError | TimeoutError) or isinstance(cause, TimeoutError):
        reason = "timed out"
    elif isinstance(cause, OSError):
        reason = cause.strerror or str(cause)
    else:
        reason = str(error)
    return RedisUnreachable(
        f"cannot connect to Redis at {node}: {reason}. Check that the node is running and listening on that "
        "address and port, and that no NetworkPolicy or firewall blocks the operator."
    )
