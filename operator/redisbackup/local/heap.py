"""Give the C heap's free pages back to the kernel now and then (glibc's malloc_trim), where the C library has it.

The operator's start-up lists every RedisBackup and handles each once: thousands of short-lived bodies, patches and
log records freed again a moment later. glibc keeps such freed memory in its heap rather than returning it, so the
process's RSS stays at the peak of the start-up long after it is idle. malloc_trim(0) releases whole free pages
(madvise) without moving anything; it costs milliseconds and runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL = 30.0  # seconds between trims: often enough to follow bursts, too seldom to cost anything measurable


def _malloc_trim() -> Callable[[], int] | None:
    """glibc's malloc_trim(0), or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: int(trim(0))


async def trim_heap_forever(interval: float = INTERVAL) -> None:
    """Trim the heap every `interval` seconds until cancelled; returns at once without glibc."""
    trim = _malloc_trim()
    if trim is None:
        log.debug("no malloc_trim in this C library: the heap is left as it is")
        return
    while True:
        await asyncio.to_thread(trim)
        await asyncio.sleep(interval)


class HeapTrimmer:
    """The background task of `trim_heap_forever`, started and stopped with the operator."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(trim_heap_forever(self.interval), name="trim-heap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
