"""A throwaway redis-server that loads a stored RDB: the reader of last resort for restores and verification.

Only redis-server reads every type, encoding and module hook of its own RDB format completely, so
`restore-cluster` and verification let a local redis-server (or valkey-server: the reader local.readers found for
the RDB's version) load the RDB instead of parsing it here. The server
listens on no TCP port — only a Unix socket (mode 700) in the caller's private directory — saves nothing, checks
every ziplist/listpack deeply while loading (`sanitize-dump-payload yes`), and is killed when the block ends; the
kernel kills it too if this process dies without cleaning up (PR_SET_PDEATHSIG).

It loads as a primary, so keys whose expiry has passed by the time it loads are dropped, as they would be by
any server restored from the snapshot now.

`streamed_scratch_server` feeds the RDB through a FIFO in place of dump.rdb (redis-server reads its RDB front to
back): the bytes go from storage straight into the server's memory, and nothing the size of the RDB is ever
written to disk. In a Pod whose only writable directory is a small emptyDir, a file that size would get it evicted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from redisbackup.api.faults import FaultCode
from redisbackup.domain.engines import VerifierTooOld
from redisbackup.domain.faults import RestoreFault, SnapshotFault
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.local.readers import REDIS_SERVER_ENV, RdbReader
from redisbackup.redis.client import RedisClient
from redisbackup.redis.connection import RespError, Timeouts
from redisbackup.redis.faults import ConnectionLost, RedisUnreachable
from redisbackup.redis.info import ServerInfo, read_server_info

log = logging.getLogger(__name__)

RDB_NAME = "dump.rdb"
SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
# Enough for any RDB a server with a non-default `databases` wrote (a larger number than the source's is harmless).
DATABASES = 1024
_PR_SET_PDEATHSIG = 1
# A Unix socket's path must fit sun_path (108 bytes with its NUL): a deep TMPDIR would make bind fail.
SOCKET_PATH_MAX = 107
SOCKET_DIR_PREFIX = "redisbackup-"
_SOCKET_SUFFIX = len(f"/{SOCKET_DIR_PREFIX}XXXXXXXX/{SOCKET_NAME}")  # what TemporaryDirectory and we append
# Logged after redis-server opened its socket and before it reads the RDB: without it, nothing was loaded.
_STARTED = "Server initialized"
# Logged by a server given an RDB newer than it reads (Redis and Valkey alike): no verdict on the RDB.
TOO_NEW = "Can't handle RDB format version"


class RdbLoadFailed(SnapshotFault):
    """redis-server refused to load the RDB (corrupt, a newer format, a module type it does not have)."""

    code = FaultCode.RDB_LOAD_FAILED
    transient = False


class LocalRedisMissing(RestoreFault):
    code = FaultCode.RESTORE_FAILED


class ScratchServerFailed(RestoreFault):
    """The throwaway redis-server stopped before it read the RDB: a local problem, no verdict on the snapshot."""

    code = FaultCode.RESTORE_FAILED


def find_program(name: str, explicit: str | None, env: str, *, package: str, flag: str, why: str) -> str:
    """A local Redis program: `explicit`, else the one $`env` names, else `name` on PATH."""
    candidate = explicit or os.environ.get(env) or name
    found = shutil.which(candidate)
    if found is None:
        raise LocalRedisMissing(
            f"cannot find the {name} program ({candidate!r}) {why}: install it (Debian: apt-get install {package}) "
            f"or name it with {flag} or {env}. It must be at least as new as the Redis that wrote the snapshot."
        )
    return found


def find_redis_server(explicit: str | None = None) -> str:
    """The redis-server binary. Debian's redis-tools ships it as redis-check-rdb (redis-server is a symlink to it,
    and the program chooses what to be from its argv[0]), so an image with only redis-tools can load RDBs too."""
    chosen = explicit is not None or os.environ.get(REDIS_SERVER_ENV) is not None
    if not chosen and shutil.which("redis-server") is None and (same := shutil.which("redis-check-rdb")) is not None:
        return same
    return find_program(
        "redis-server",
        explicit,
        REDIS_SERVER_ENV,
        package="redis-server",
        flag="--redis-server",
        why="needed to load the snapshot locally",
    )


def _config(directory: Path, socket: Path, reader: RdbReader | None) -> str:
    modern = reader is None or reader.release.sanitizes_payloads  # both options arrived in Redis 6.2
    lines = [
        "port 0",
        f"unixsocket {socket}",
        "unixsocketperm 700",
        f"dir {directory}",
        f"dbfilename {RDB_NAME}",
        'save ""',
        "appendonly no",
        "daemonize no",
        f"logfile {directory / LOG_NAME}",
        *(["sanitize-dump-payload yes"] if modern else []),
        f"databases {DATABASES}",
        *(["set-proc-title no"] if modern else []),
    ]
    return "\n".join(lines) + "\n"


# Loaded once here, not in the child: dlopen after fork could wait forever on a lock another thread held.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Between fork and exec (so only a syscall): if we are SIGKILLed no Python cleanup runs, so the kernel stops
    # the server instead, and its own process group keeps a Ctrl-C on our terminal from reaching it first.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)


@dataclass
class ScratchServer:
    directory: Path
    socket: Path  # in a short private directory of its own: a socket path may not exceed 107 bytes
    process: asyncio.subprocess.Process
    info: ServerInfo | None = None
    reader: RdbReader | None = None

    @property
    def engine_name(self) -> str:
        return str(self.reader) if self.reader is not None else "redis-server"

    @property
    def address(self) -> NodeAddress:
        return NodeAddress.unix_socket(str(self.socket))

    @property
    def version(self) -> str:
        return self.info.engine_version if self.info else "unknown"

    def log(self) -> str:
        try:
            return (self.directory / LOG_NAME).read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 12) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    async def connect(self, timeouts: Timeouts | None = None) -> RedisClient:
        return await RedisClient.open(self.address, ConnectionSettings(), timeouts or Timeouts(reply=600.0))


async def _wait_loaded(server: ScratchServer, what: str, time_limit: float) -> None:
    """Until the server answers PING (not -LOADING); RdbLoadFailed with its log if it exits first."""
    quick = Timeouts(connect=2.0, reply=30.0)
    async with asyncio.timeout(time_limit):
        while True:
            if server.process.returncode is not None and _STARTED not in server.log():
                raise ScratchServerFailed(
                    f"the throwaway redis-server for {what} exited with status {server.process.returncode} before "
                    f"it read the RDB. Its log ends:\n{server.log_tail()}\nThis says nothing about the snapshot: "
                    "fix the local redis-server or its environment, and try again."
                )
            if server.process.returncode is not None and TOO_NEW in server.log():
                raise VerifierTooOld(
                    f"the local {server.engine_name} cannot read {what}: {server.log_tail(2)}. That says nothing "
                    "about the snapshot: load it with a server at least as new as the one that wrote it."
                )
            if server.process.returncode is not None:
                raise RdbLoadFailed(
                    f"redis-server could not load {what} and exited with status {server.process.returncode}. "
                    f"Its log ends:\n{server.log_tail()}\nThe RDB is damaged, or was written by a newer Redis (or "
                    "with a module) than this redis-server; use a redis-server at least as new as the source."
                )
            with contextlib.suppress(RedisUnreachable, ConnectionLost):
                client = await RedisClient.open(server.address, ConnectionSettings(), quick)
                try:
                    reply = await client.command("PING")
                    if not isinstance(reply, RespError):
                        server.info = await read_server_info(client)
                        return
                finally:
                    await client.close()
            await asyncio.sleep(0.1)


def socket_parent() -> str:
    """Where the socket's private directory goes: the temporary directory, unless its path is too deep for a
    socket (a long TMPDIR); then the first short, writable one of /tmp and /dev/shm."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/dev/shm"):
        fits = len(os.fsencode(candidate)) + _SOCKET_SUFFIX <= SOCKET_PATH_MAX
        if fits and Path(candidate).is_dir() and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    raise ScratchServerFailed(
        f"no directory for the throwaway redis-server's Unix socket: the temporary directory "
        f"{tempfile.gettempdir()!r} is too deep for a socket path ({SOCKET_PATH_MAX} bytes at most) and neither /tmp "
        "nor /dev/shm is writable. Set TMPDIR to a shorter directory."
    )


@contextlib.asynccontextmanager
async def _running(directory: Path, reader: RdbReader | None, redis_server: str | None) -> AsyncIterator[ScratchServer]:
    """The `reader`'s server (or `redis_server`, or redis-server on PATH) started in `directory` with its private
    socket; killed when the block ends."""
    program = reader.server if reader is not None else find_redis_server(redis_server)
    with tempfile.TemporaryDirectory(prefix=SOCKET_DIR_PREFIX, dir=socket_parent()) as socket_dir:
        socket = Path(socket_dir, SOCKET_NAME)
        config = directory / "redis.conf"
        config.write_text(_config(directory, socket, reader))
        process = await asyncio.create_subprocess_exec(
            # argv[0]: what the binary runs as (Debian installs it as redis-check-rdb too)
            reader.server_name if reader is not None else "redis-server",
            str(config),
            executable=program,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        try:
            yield ScratchServer(directory, socket, process, reader=reader)
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def _loaded(server: ScratchServer, what: str, load_timeout: float) -> ScratchServer:
    try:
        await _wait_loaded(server, what, load_timeout)
    except TimeoutError:
        raise RdbLoadFailed(
            f"redis-server did not finish loading {what} within {load_timeout:g}s. Its log ends:\n{server.log_tail()}"
        ) from None
    log.info("loaded %s into a throwaway redis-server %s", what, server.version)
    return server


@contextlib.asynccontextmanager
async def scratch_server(
    directory: Path,
    *,
    what: str,
    reader: RdbReader | None = None,
    redis_server: str | None = None,
    load_timeout: float = 3600.0,
) -> AsyncIterator[ScratchServer]:
    """Start the `reader`'s server (or `redis_server`, or redis-server on PATH) in `directory` (private, empty but
    for `dump.rdb`), yield it once the RDB is loaded.

    `what` names the RDB in messages (e.g. "node group 0002 of snapshot nightly").
    """
    async with _running(directory, reader, redis_server) as server:
        yield await _loaded(server, what, load_timeout)


class StreamedLoad:
    """A throwaway redis-server reading its RDB from a FIFO while the caller writes the RDB into it."""

    def __init__(self, server: ScratchServer, fifo: Path, what: str, load_timeout: float) -> None:
        self.server = server
        self.fifo = fifo
        self.what = what
        self.load_timeout = load_timeout
        self._fd: int | None = None

    async def open(self, start_timeout: float) -> None:
        """Wait until redis-server opened the FIFO to read it (it does so after starting up); an exit first is
        reported as `_wait_loaded` reports it."""
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                self._fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(self._fd, True)
                return
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
            if self.server.process.returncode is not None or time.monotonic() > deadline:
                await _loaded(self.server, self.what, 0.1)  # raises what went wrong (it exited, or it is stuck)
                raise ScratchServerFailed(
                    f"the throwaway redis-server for {self.what} did not start reading its RDB within "
                    f"{start_timeout:g}s. Its log ends:\n{self.server.log_tail()}"
                )
            await asyncio.sleep(0.02)

    async def write(self, chunk: bytes) -> None:
        """Pass `chunk` on; once the server stopped reading (it refused the RDB and exited), drop the rest: `finish`
        reports why."""
        if self._fd is None:
            return
        try:
            await asyncio.to_thread(_write_all, self._fd, chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def finish(self) -> ScratchServer:
        """End of the RDB: the server once it has loaded it (RdbLoadFailed with its log when it could not)."""
        self.close()
        unblocker = asyncio.create_task(self._end_rechecks())
        try:
            return await _loaded(self.server, self.what, self.load_timeout)
        finally:
            unblocker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await unblocker

    async def _end_rechecks(self) -> None:
        """A server that finds the RDB damaged checks the file again before it exits (redis-check-rdb's code, on
        the same path): on a FIFO that waits for a writer for ever. Whenever it reads the FIFO again, this opens
        and closes it, so the check reads an empty file, reports, and the server exits with its verdict."""
        while self.server.process.returncode is None:
            try:
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as error:
                if error.errno != errno.ENXIO:  # ENXIO: nobody reads it (loading is over, or not yet)
                    raise
            await asyncio.sleep(0.1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@contextlib.asynccontextmanager
async def streamed_scratch_server(
    directory: Path,
    *,
    what: str,
    reader: RdbReader | None = None,
    redis_server: str | None = None,
    load_timeout: float = 3600.0,
    start_timeout: float = 60.0,
) -> AsyncIterator[StreamedLoad]:
    """A throwaway redis-server in `directory` (private and empty) whose `dump.rdb` is a FIFO: write the RDB into
    the yielded `StreamedLoad`, then `finish()` gives the server once it has loaded it."""
    fifo = directory / RDB_NAME
    os.mkfifo(fifo, 0o600)
    async with _running(directory, reader, redis_server) as server:
        load = StreamedLoad(server, fifo, what, load_timeout)
        try:
            await load.open(start_timeout)
            yield load
        finally:
            load.close()
