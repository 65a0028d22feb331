"""The operator trims the C heap now and then (glibc's malloc_trim), and stops doing it when the operator stops."""

from __future__ import annotations

import asyncio
import platform
import time

import pytest

from redisbackup.local import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_gives_its_malloc_trim_which_reports_whether_it_released_memory() -> None:
    trim = heap._malloc_trim()
    assert trim is not None
    garbage = [bytearray(4096) for _ in range(20_000)]  # ~80 MB in small blocks, then freed: something to release
    del garbage
    assert trim() in (0, 1)


async def test_the_trimmer_trims_every_interval_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda: lambda: calls.append(time.monotonic()) or 0)
    trimmer = heap.HeapTrimmer(interval=0.02)
    trimmer.start()
    trimmer.start()  # a second start keeps the one task
    await asyncio.sleep(0.2)
    await trimmer.stop()
    count = len(calls)
    assert count >= 3
    await asyncio.sleep(0.1)
    assert len(calls) == count, "no trim after stop"
    await trimmer.stop()  # stopping twice is harmless


async def test_without_malloc_trim_the_task_ends_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    await asyncio.wait_for(heap.trim_heap_forever(interval=0.01), timeout=1)
