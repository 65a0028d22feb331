"""`redis-check-rdb`: Redis's own offline checker, run over a stored RDB.

It reads every opcode and object of the file with the server's loader (without keeping the data) and checks the
CRC-64 trailer, then prints `\\o/ RDB looks OK! \\o/` or `--- RDB ERROR DETECTED ---` followed by where and what,
and `[info] N keys read / N expires / N already expired`. Debian ships it in redis-tools.

It reads its input front to back, so it also checks an RDB streamed to its standard input (`check_rdb_stream`):
verification never needs room on disk for the RDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import SnapshotFault
from redisbackup.local.scratch_server import find_program

CHECK_RDB_ENV = "REDISBACKUP_REDIS_CHECK_RDB"
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
    written_by: str  # the Redis version recorded in the RDB (its redis-ver field), e.g. 7.0.15


def find_check_rdb(explicit: str | None = None) -> str:
    return find_program(
        "redis-check-rdb",
        explicit,
        CHECK_RDB_ENV,
        package="redis-tools",
        flag="--redis-check-rdb",
        why="needed to check the snapshot's RDBs",
    )


def parse_report(output: str, returncode: int, *, what: str) -> RdbCheck:
    """The checker's verdict on `what`; RdbCheckFailed with its explanation when it found a problem."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if returncode != 0 or ERROR_LINE in lines or not any(OK_LINE in line for line in lines):
        start = lines.index(ERROR_LINE) if ERROR_LINE in lines else max(len(lines) - 6, 0)
        details = "; ".join(line for line in lines[start + 1 :] if not line.startswith("[info]")) or "no details"
        raise RdbCheckFailed(
            f"redis-check-rdb rejected {what}: {details}. The stored RDB is damaged or not an RDB this Redis "
            "version understands; do not restore it. Take a new snapshot if the source still exists."
        )
    counts = {"keys read": 0, "expires": 0, "already expired": 0}
    for line in lines:
        if match := _INFO.match(line):
            counts[match[2]] = int(match[1])
    written_by = next((m[1] for line in lines if (m := re.search(r"redis-ver = '([^']+)'", line))), "unknown")
    return RdbCheck(counts["keys read"], counts["expires"], counts["already expired"], written_by)


class StreamedCheck:
    """redis-check-rdb reading an RDB from its standard input while the caller streams it there."""

    def __init__(self, process: asyncio.subprocess.Process, what: str) -> None:
        self.process = process
        self.what = what
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
        """End of the RDB: the checker's verdict (RdbCheckFailed with its explanation when it found a problem)."""
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
            raise RdbCheckFailed(
                f"redis-check-rdb did not finish checking {self.what} within {time_limit:g}s"
            ) from None
        return parse_report(output.decode(errors="replace"), self.process.returncode or 0, what=self.what)


@contextlib.asynccontextmanager
async def check_rdb_stream(*, what: str, program: str | None = None) -> AsyncIterator[StreamedCheck]:
    """redis-check-rdb over its standard input; stopped when the block ends."""
    executable = find_check_rdb(program)
    process = await asyncio.create_subprocess_exec(
        executable,
        "/dev/stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    check = StreamedCheck(process, what)
    try:
        yield check
    finally:
        await check.stop()
