"""`redis-check-rdb` (or `valkey-check-rdb`): the engine's own offline checker, run over a stored RDB.

It reads every opcode and object of the file with the server's loader (without keeping the data) and checks the
CRC-64 trailer, then prints `\\o/ RDB looks OK! \\o/` or `--- RDB ERROR DETECTED ---` followed by where and what,
and `[info] N keys read / N expires / N already expired`. Debian ships it in redis-tools (valkey-tools).

Only a checker that reads the RDB's version gives a verdict: local.readers and domain.engines choose it, and a
checker that still says "Can't handle RDB format version" is VerifierTooOld (no verdict), never RdbCheckFailed.

It reads its input front to back, so it also checks an RDB streamed to its standard input (`check_rdb_stream`):
verification never needs room on disk for the RDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from redisbackup.api.faults import FaultCode
from redisbackup.domain.engines import VerifierTooOld
from redisbackup.domain.faults import SnapshotFault
from redisbackup.local.readers import CHECK_RDB_ENV, RdbReader
from redisbackup.local.scratch_server import TOO_NEW, find_program

OK_LINE = "RDB looks OK!"
ERROR_LINE = "--- RDB ERROR DETECTED ---"
_INFO = re.compile(r"^\[info\] (\d+) (keys read|expires|already expired)$")


class RdbCheckFailed(SnapshotFault):
    code = FaultCode.RDB_CHECK_FAILED
    transient = False


@dataclass(frozen=True)
class RdbCheck:
    """What redis-check-rdb found in a file that passed."""

    keys: int
    expires: int
    already_expired: int
    written_by: str  # the engine and version recorded in the RDB (redis-ver / valkey-ver), e.g. "valkey 8.1.1"


def find_check_rdb(explicit: str | None = None) -> str:
    return find_program(
        "redis-check-rdb",
        explicit,
        CHECK_RDB_ENV,
        package="redis-tools",
        flag="--redis-check-rdb",
        why="needed to check the snapshot's RDBs",
    )


def parse_report(output: str, returncode: int, *, what: str, checker: str = "redis-check-rdb") -> RdbCheck:
    """The checker's verdict on `what`; RdbCheckFailed with its explanation when it found a problem, VerifierTooOld
    when it does not read the RDB's version at all (no verdict)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if returncode != 0 or ERROR_LINE in lines or not any(OK_LINE in line for line in lines):
        start = lines.index(ERROR_LINE) if ERROR_LINE in lines else max(len(lines) - 6, 0)
        details = "; ".join(line for line in lines[start + 1 :] if not line.startswith("[info]")) or "no details"
        if any(TOO_NEW in line for line in lines):
            raise VerifierTooOld(
                f"{checker} does not read {what}: {details}. That says nothing about the snapshot: check it with a "
                "reader at least as new as the server that wrote it."
            )
        raise RdbCheckFailed(
            f"{checker} rejected {what}: {details}. The stored RDB is damaged; do not restore it. Take a new "
            "snapshot if the source still exists."
        )
    counts = {"keys read": 0, "expires": 0, "already expired": 0}
    for line in lines:
        if match := _INFO.match(line):
            counts[match[2]] = int(match[1])
    written_by = next(
        (f"{m[1]} {m[2]}" for line in lines if (m := re.search(r"(redis|valkey)-ver = '([^']+)'", line))), "unknown"
    )
    return RdbCheck(counts["keys read"], counts["expires"], counts["already expired"], written_by)


async def check_rdb(
    path: Path, *, what: str, reader: RdbReader | None = None, program: str | None = None, time_limit: float = 3600.0
) -> RdbCheck:
    """Run the `reader`'s check-rdb (or `program`, or redis-check-rdb on PATH) on `path` (a local file)."""
    executable = reader.checker if reader is not None else find_check_rdb(program)
    name = reader.checker_name if reader is not None else "redis-check-rdb"
    process = await asyncio.create_subprocess_exec(
        name,  # argv[0]: the Debian binary is server and checker in one, and chooses by its name
        str(path),
        executable=executable,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(time_limit):
            output, _ = await process.communicate()
    except TimeoutError:
        raise RdbCheckFailed(f"{name} did not finish checking {what} within {time_limit:g}s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    label = f"{name} {reader.release.version}" if reader is not None else name
    return parse_report(output.decode(errors="replace"), process.returncode or 0, what=what, checker=label)


class StreamedCheck:
    """A checker reading an RDB from its standard input while the caller streams it there."""

    def __init__(self, process: asyncio.subprocess.Process, what: str, checker: str) -> None:
        self.process = process
        self.what = what
        self.checker = checker
        self._open = True
        assert process.stdout is not None
        self._output = asyncio.ensure_future(process.stdout.read())  # read meanwhile: a full pipe would block it

    async def write(self, chunk: bytes) -> None:
        """Pass `chunk` on; once the checker stopped reading (it found a problem and exited), drop the rest: the
        verdict is in its output."""
        if not self._open:
            return
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(chunk)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._open = False

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self._output.cancel()

    async def finish(self, time_limit: float = 3600.0) -> RdbCheck:
        """End of the RDB: the checker's verdict (RdbCheckFailed with its explanation when it found a problem,
        VerifierTooOld when it does not read the RDB's version)."""
        assert self.process.stdin is not None
        if self._open:
            self.process.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self.process.stdin.wait_closed()
            self._open = False
        try:
            async with asyncio.timeout(time_limit):
                output = await self._output
                await self.process.wait()
        except TimeoutError:
            raise RdbCheckFailed(f"{self.checker} did not finish checking {self.what} within {time_limit:g}s") from None
        return parse_report(
            output.decode(errors="replace"), self.process.returncode or 0, what=self.what, checker=self.checker
        )


@contextlib.asynccontextmanager
async def check_rdb_stream(
    *, what: str, reader: RdbReader | None = None, program: str | None = None
) -> AsyncIterator[StreamedCheck]:
    """The `reader`'s check-rdb (or `program`, or redis-check-rdb on PATH) over its standard input; stopped when the
    block ends."""
    executable = reader.checker if reader is not None else find_check_rdb(program)
    name = reader.checker_name if reader is not None else "redis-check-rdb"
    process = await asyncio.create_subprocess_exec(
        name,  # argv[0]: the Debian binary is server and checker in one, and chooses by its name
        "/dev/stdin",
        executable=executable,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    check = StreamedCheck(process, what, f"{name} {reader.release.version}" if reader is not None else name)
    try:
        yield check
    finally:
        await check.stop()
