"""A one-line progress display on a terminal: bytes so far, the total when known, the rate.

Shown only when stderr is a terminal (never in logs of an init container or a CI job); the commands that stream
snapshots (dump, restore, restore-cluster, verify) and the waits of create-snapshot/copy-snapshot use it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO, label: str = "") -> None:
        self._stream = stream
        self._label = f"{label} " if label else ""
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int | None) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        of = f" of {mib(total)}" if total else ""
        percent = f" {100 * done / total:5.1f}%" if total else ""
        rate = done / elapsed / (1 << 20)
        self._stream.write(f"\r  {self._label}{mib(done)}{of}{percent}  {rate:7.1f} MiB/s  {elapsed:6.1f}s ")
        self._stream.flush()
        self._shown = True

    def message(self, text: str) -> None:
        """A status line in place of the byte counts (e.g. while waiting for the operator)."""
        elapsed = time.monotonic() - self._start
        self._stream.write(f"\r\x1b[K  {self._label}{text}  {elapsed:6.1f}s ")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False


def mib(count: int) -> str:
    return f"{count / (1 << 20):,.1f} MiB"


def terminal_progress(quiet: bool, label: str = "") -> ProgressLine | None:
    """A progress line on stderr when it is a terminal and the user did not ask for quiet."""
    return None if quiet or not sys.stderr.isatty() else ProgressLine(sys.stderr, label)
