"""Which operator process this is, and whether a process named the same way is still running on this host.

An identity is `<host>/<pid>/<start>/<boot>/<pidns>`: the host name (a Pod's name in Kubernetes), the process id,
its start time in clock ticks since boot (/proc/<pid>/stat), the first 8 characters of the kernel's boot id and
the inode of its PID namespace. Process ids are reused; the start time and boot id make an identity unique, so a
rebooted machine never passes for the process before it.

`is_running` answers only where it can see the process: the same host and PID namespace. Elsewhere — another
Pod, a restarted container of this Pod (a new PID namespace), Pods sharing the node's network and so its host name
— it cannot tell (None), and the caller falls back on the holder's lease (k8s.locks).
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    start: int
    boot: str
    pid_namespace: str

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.start}/{self.boot}/{self.pid_namespace}"

    @classmethod
    def parse(cls, text: str) -> ProcessIdentity | None:
        """The identity written by `str()`, or None for anything else (another tool's, a damaged annotation)."""
        parts = text.split("/")
        if len(parts) != 5 or not parts[1].isdigit() or not parts[2].isdigit():
            return None
        return cls(parts[0], int(parts[1]), int(parts[2]), parts[3], parts[4])


def _start_time(pid: int, proc: Path) -> int | None:
    """Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[19]) if len(fields) > 19 else None


def _boot_id(proc: Path) -> str:
    try:
        return (proc / "sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "unknown"


def _pid_namespace(proc: Path) -> str:
    """The inode of this process's PID namespace ("pid:[4026531836]" → "4026531836")."""
    try:
        return str((proc / "self/ns/pid").readlink()).partition("[")[2].rstrip("]") or "unknown"
    except OSError:
        return "unknown"


@functools.cache
def this_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), pid, _start_time(pid, PROC) or 0, _boot_id(PROC), _pid_namespace(PROC))


def is_running(identity: ProcessIdentity, *, proc: Path = PROC, host: str | None = None) -> bool | None:
    """True: that process runs here now; False: it ran here and is gone; None: this process cannot see it."""
    if identity.host != (host or socket.gethostname()):
        return None
    if identity.boot != _boot_id(proc):
        return False  # this host rebooted since
    if identity.pid_namespace != _pid_namespace(proc) or identity.pid_namespace == "unknown":
        return None
    return _start_time(identity.pid, proc) == identity.start
