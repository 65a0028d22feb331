"""Memory by budget (workflows.budget): stated per-stream costs, the cgroup's limit, streams that wait their turn."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redisbackup.api.config import S3Location, S3Transfer, StorageLocation
from redisbackup.storage.file import FileStore
from redisbackup.storage.pool import open_location
from redisbackup.workflows.budget import (
    MIB,
    RECEIVE_BYTES,
    StreamBudget,
    budget_bytes,
    container_memory_limit,
    stream_cost,
)


def test_a_stream_states_its_cost_from_the_locations_transfer_settings(tmp_path: Path) -> None:
    assert stream_cost(FileStore(tmp_path)) == RECEIVE_BYTES + 4 * MIB == 8 * MIB
    default = open_location(StorageLocation(s3=S3Location(bucket="snaps")))
    assert stream_cost(default) == 28 * MIB
    tuned = open_location(
        StorageLocation(
            s3=S3Location(bucket="snaps", transfer=S3Transfer(threads=2, parts_in_flight=4, part_size_mib=16))
        )
    )
    assert stream_cost(tuned) == 4 * MIB + 5 * 16 * MIB
    assert tuned.settings.max_threads == 2  # type: ignore[attr-defined]


def test_the_budget_is_the_configured_one_else_half_the_cgroup_limit(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    v2.write_text("536870912\n")
    assert container_memory_limit((v2, v1)) == 512 * MIB
    v2.write_text("max\n")
    assert container_memory_limit((v2, v1)) is None
    v2.unlink()
    v1.write_text(str(1 << 62))  # cgroup v1's "unlimited"
    assert container_memory_limit((v2, v1)) is None
    assert container_memory_limit((tmp_path / "none",)) is None
    assert budget_bytes(None, 512 * MIB) == 256 * MIB
    assert budget_bytes(100, 512 * MIB) == 100 * MIB
    assert budget_bytes(None, None) is None


def test_streams_wait_for_budget_and_for_a_stream_slot_first_come_first_served() -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        budget = StreamBudget(total=60 * MIB, max_streams=3)
        running, peak, order = 0, 0, []

        async def stream(name: str, cost: int) -> None:
            nonlocal running, peak
            async with budget.stream(cost):
                running += 1
                peak = max(peak, running)
                order.append(name)
                await asyncio.sleep(0.01)
                running -= 1

        await asyncio.gather(*(stream(f"s{i}", 28 * MIB) for i in range(6)), stream("big", 100 * MIB))
        return peak, budget.peak_used, order

    peak, peak_used, order = asyncio.run(scenario())
    assert peak == 2  # two 28 MiB streams fit in 60 MiB, a third waits
    assert order[-1] == "big"  # larger than the whole budget: admitted alone, in its turn
    assert peak_used <= 100 * MIB


def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    async def scenario() -> bool:
        budget = StreamBudget(total=10 * MIB, max_streams=10)
        async with budget.stream(8 * MIB):
            waiter = asyncio.create_task(budget.stream(8 * MIB).__aenter__())
            await asyncio.sleep(0)
            assert budget.waiting == 1
            waiter.cancel()
            await asyncio.gather(waiter, return_exceptions=True)
            assert budget.waiting == 0
        return budget.used == 0 and budget.streams == 0

    assert asyncio.run(scenario())
