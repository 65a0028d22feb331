"""Memory by budget: what one node stream costs, what all of them may hold, and streams that wait their turn.

A stream's memory is stated, not measured: its receive buffers (redis.receive_buffers: depth x chunk) plus what
its store holds while writing — for S3, the part filling and the parts in flight ((partsInFlight + 1) x part
size); for a directory, one staging buffer. Checksums run in place on the receive buffers (workflows.checksums).
A stream without TLS holds less: its reader thread receives into one 256 KiB buffer (redis.replication.pump) once
the handshake is over, and writes to a directory without staging; the stated cost is its upper bound.

    S3 with the defaults: 4 x 1 MiB + (2 + 1) x 8 MiB = 28 MiB per stream
    a directory:          4 x 1 MiB + 4 MiB          =  8 MiB per stream

The budget is limits.streamMemoryBudgetMiB, or half the container's memory limit (cgroup v2 memory.max, or v1
memory.limit_in_bytes): the other half is the interpreter, kopf's caches and the stores' clients. A stream that
does not fit waits (first come, first served) instead of exceeding it; one stream is always admitted when none
runs, so a budget smaller than one stream slows snapshots down but never stops them. limits.maxConcurrentStreams
bounds the number of streams as well, whichever snapshots (one node, or each shard of a cluster) they belong to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from redisbackup.redis.receive_buffers import DEFAULT_CHUNK_SIZE, DEFAULT_DEPTH
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.file import STAGING_SIZE, FileStore

MIB = 1 << 20
RECEIVE_BYTES = DEFAULT_DEPTH * DEFAULT_CHUNK_SIZE
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
NO_LIMIT_ABOVE = 1 << 60  # cgroup v1 says "no limit" with a huge number


def stream_cost(store: ObjectStore) -> int:
    """Bytes one node stream into `store` holds at most (for RDBs up to ~70 GiB with S3: see storage.multipart)."""
    if isinstance(store, FileStore):
        return RECEIVE_BYTES + STAGING_SIZE
    settings = getattr(store, "settings", None)  # S3Store, without importing boto3 here
    if settings is not None and hasattr(settings, "parts_in_flight"):
        return RECEIVE_BYTES + (int(settings.parts_in_flight) + 1) * int(settings.min_part_size)
    return RECEIVE_BYTES


def container_memory_limit(paths: tuple[Path, ...] = CGROUP_LIMITS) -> int | None:
    """The cgroup's memory limit in bytes; None when there is none (or no cgroup file is readable)."""
    for path in paths:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text == "max" or not text.isdigit() or int(text) >= NO_LIMIT_ABOVE:
            return None
        return int(text)
    return None


def budget_bytes(configured_mib: int | None, limit: int | None) -> int | None:
    """The configured budget, else half the container's limit, else none."""
    if configured_mib is not None:
        return configured_mib * MIB
    return limit // 2 if limit is not None else None


@dataclass
class _Waiter:
    cost: int
    ready: asyncio.Future[None]


class StreamBudget:
    """Admits node streams while their stated memory fits `total` bytes and fewer than `max_streams` run."""

    def __init__(self, total: int | None, max_streams: int) -> None:
        self.total = total
        self.max_streams = max_streams
        self.used = 0
        self.streams = 0
        self.peak_used = 0
        self._queue: collections.deque[_Waiter] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _fits(self, cost: int) -> bool:
        if self.streams == 0:
            return True  # never deadlock on a stream larger than the whole budget
        if self.streams >= self.max_streams:
            return False
        return self.total is None or self.used + cost <= self.total

    @contextlib.asynccontextmanager
    async def stream(self, cost: int) -> AsyncIterator[None]:
        if not self._queue and self._fits(cost):
            self._take(cost)
        else:
            waiter = _Waiter(cost, asyncio.get_running_loop().create_future())
            self._queue.append(waiter)
            try:
                await waiter.ready
            except BaseException:
                if waiter.ready.done() and not waiter.ready.cancelled():
                    self._give_back(cost)  # admitted and cancelled in the same moment
                else:
                    self._queue.remove(waiter)
                    self._wake()
                raise
        try:
            yield
        finally:
            self._give_back(cost)

    def _take(self, cost: int) -> None:
        self.used += cost
        self.streams += 1
        self.peak_used = max(self.peak_used, self.used)

    def _give_back(self, cost: int) -> None:
        self.used -= cost
        self.streams -= 1
        self._wake()

    def _wake(self) -> None:
        # First come, first served: a large stream at the head is not overtaken by smaller ones behind it.
        while self._queue and self._fits(self._queue[0].cost):
            waiter = self._queue.popleft()
            self._take(waiter.cost)
            waiter.ready.set_result(None)
