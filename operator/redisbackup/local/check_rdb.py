"""`redis-check-rdb`: Redis's own offline checker, run over a stored RDB.

It reads every opcode and object of the file with the server's loader (without keeping the data) and checks the
CRC-64 trailer, then prints `\\o/ RDB looks OK! \\o/` or `--- RDB ERROR DETECTED ---` followed by where and what,
and `[info] N keys read / N expires / N already expired`. Debian ships it in redis-tools.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

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


async def check_rdb(path: Path, *, what: str, program: str | None = None, time_limit: float = 3600.0) -> RdbCheck:
    """Run redis-check-rdb on `path` (a local file)."""
    executable = find_check_rdb(program)
    process = await asyncio.create_subprocess_exec(
        executable,
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(time_limit):
            output, _ = await process.communicate()
    except TimeoutError:
        raise RdbCheckFailed(f"redis-check-rdb did not finish checking {what} within {time_limit:g}s") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return parse_report(output.decode(errors="replace"), process.returncode or 0, what=what)
