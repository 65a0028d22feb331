"""Child processes of the local stack that never outlive their owner.

Every server (etcd, kube-apiserver, redis-server, weed, the operator) runs through `Process`: its own process
group (so a stop reaches its children too), output in a log file (printed when it fails to start, so a test
failure says why), SIGTERM then SIGKILL on stop, and PR_SET_PDEATHSIG so the kernel kills it if its owner dies
by SIGKILL, where no Python cleanup runs. `stop_all()` runs at exit and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_live: list[Process] = []
_live_lock = threading.Lock()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. Note: the "parent" is the thread that forked, so start
    # long-lived servers from the main thread (pytest fixtures do).
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)


class StartupError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""

    @property
    def port_taken(self) -> bool:
        """Whether the server could not bind its port: another process took it after it was picked free (a start
        on new ports may succeed)."""
        return "address already in use" in str(self)


class Process:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            preexec_fn=_die_with_parent if die_with_parent else os.setpgrp,
        )
        with _live_lock:
            _live.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], bool], timeout: float = 60.0, what: str = "ready") -> None:
        """Poll `check` until it returns True; fail fast (with the log) if the process exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise StartupError(
                    f"{self.name} exited with {self.popen.returncode} before it was {what}; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            with contextlib.suppress(Exception):
                if check():
                    return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} was not {what} after {timeout:.0f}s; last lines of {self.log_path}:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout)
        # The group may hold grandchildren that outlived the leader.
        self.signal(signal.SIGKILL)
        self._log.close()
        with _live_lock:
            if self in _live:
                _live.remove(self)

    def kill(self) -> None:
        """SIGKILL without grace: a crash, for fault tests."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)


def stop_all() -> None:
    with _live_lock:
        procs = list(reversed(_live))
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.stop(timeout=5)


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_cleanup_handlers() -> None:
    """Stop every child on normal exit and on SIGTERM. Idempotent; main thread only.

    Ctrl-C needs no handler: it raises KeyboardInterrupt, which unwinds fixtures and context managers, and
    atexit covers the rest.
    """
    atexit.unregister(stop_all)
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
        signal.SIG_DFL,
        None,
    ):
        signal.signal(signal.SIGTERM, _on_signal)
