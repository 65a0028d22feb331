"""One snapshot per source at a time, first come first served, without deadlocks between overlapping sources."""

from __future__ import annotations

import asyncio

import pytest

from redisbackup.workflows.concurrency import SourceGate

pytestmark = pytest.mark.asyncio


async def test_snapshots_of_one_source_run_one_after_the_other_in_arrival_order() -> None:
    gate, order, running = SourceGate(), [], set()

    async def snapshot(name: str) -> None:
        async with gate.hold(["sts/cache"], name):
            assert not running, f"{name} ran while {running} did"
            running.add(name)
            order.append(name)
            await asyncio.sleep(0.01)
            running.discard(name)

    first = asyncio.create_task(snapshot("a"))
    await asyncio.sleep(0)
    assert gate.holder(["sts/cache"]) == "a"
    await asyncio.gather(first, snapshot("b"), snapshot("c"))
    assert order == ["a", "b", "c"]
    assert len(gate) == 0, "no lock is kept for a source nobody waits for"


async def test_overlapping_sources_taken_in_any_order_do_not_deadlock() -> None:
    gate = SourceGate()

    async def snapshot(keys: list[str]) -> None:
        async with gate.hold(keys, "x"):
            await asyncio.sleep(0.001)

    await asyncio.wait_for(asyncio.gather(*(snapshot(["a", "b"] if i % 2 else ["b", "a"]) for i in range(20))), 5)
    assert gate.holder(["a", "b"]) is None
