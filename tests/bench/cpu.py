"""CPU seconds, as the benches count them: of a running process by pid (/proc/<pid>/stat), or of this process
or its finished children (getrusage); and how busy the machine is (/proc/stat)."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path


def process_cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of `pid` so far; with `reaped_children`, also what its children that it has waited for spent
    (cutime + cstime: a Redis server's forks, once the server has reaped them)."""
    # The fields after the command's closing parenthesis: utime, stime, cutime, cstime are the 12th to 15th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11 : 15 if reaped_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def rusage_cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system seconds of this process (every thread) or, with RUSAGE_CHILDREN, of its finished children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def busy_cores(interval: float = 1.0) -> float:
    """How many of the machine's cores were busy over `interval` seconds (/proc/stat: everything but idle and
    iowait), whichever processes kept them busy."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    busy, total = sample()
    time.sleep(interval)
    busy_after, total_after = sample()
    return (os.cpu_count() or 1) * (busy_after - busy) / max(1, total_after - total)


def wait_until_quiet(*, below: float = 0.3, longest: float = 90.0) -> float:
    """Wait (at most `longest` seconds) until less than `below` of a core is busy over a second, so a figure
    measured against an absolute target (the CLI's 0.2 s) is not what a process just started (an apiserver
    syncing its caches) takes from it. Returns the last reading: the table states it."""
    deadline = time.monotonic() + longest
    while (busy := busy_cores()) >= below and time.monotonic() < deadline:
        pass
    return busy
