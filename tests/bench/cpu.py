"""CPU seconds, as the benches count them: of a running process by pid (/proc/<pid>/stat), or of this process
or its finished children (getrusage)."""

from __future__ import annotations

import os
import resource
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
