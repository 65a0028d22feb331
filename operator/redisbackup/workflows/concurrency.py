"""One snapshot per source at a time, a bounded number at all, and knowing which ones run.

`SourceGate` serialises the snapshots of one source inside this process, first come first served, without any
API traffic while they wait (a thousand queued backups must not poll the apiserver); the
`redisbackup.io/snapshotting` annotation (k8s.locks) then makes it visible and safe across processes.
`RunningSnapshots` lets a deletion wait until the cancelled snapshot of the same RedisBackup has cleaned up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable, Iterator, Sequence
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: str | None = None
    users: int = 0


class SourceGate:
    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}

    def holder(self, keys: Sequence[Hashable]) -> str | None:
        """Who holds any of `keys` right now (None: all free)."""
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry.lock.locked():
                return entry.holder
        return None

    @contextlib.asynccontextmanager
    async def hold(self, keys: Sequence[Hashable], holder: str) -> AsyncIterator[None]:
        """Hold every key (taken in sorted order, so two holders of overlapping sets cannot deadlock)."""
        ordered = sorted(set(keys), key=repr)
        entries = [self._entries.setdefault(key, _Entry()) for key in ordered]
        for entry in entries:
            entry.users += 1
        taken: list[_Entry] = []
        try:
            for entry in entries:
                await entry.lock.acquire()
                entry.holder = holder
                taken.append(entry)
            yield
        finally:
            for entry in reversed(taken):
                entry.holder = None
                entry.lock.release()
            for key, entry in zip(ordered, entries, strict=True):
                entry.users -= 1
                if entry.users == 0:
                    self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class RunningSnapshots:
    """The task currently snapshotting each RedisBackup (by uid)."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[object]] = {}

    @contextlib.contextmanager
    def track(self, uid: str) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks[uid] = task
        try:
            yield
        finally:
            if self._tasks.get(uid) is task:
                del self._tasks[uid]

    async def wait_stopped(self, uid: str, patience: float) -> bool:
        """Cancel the snapshot of `uid` if one runs here, and wait for it to clean up; False on timeout."""
        task = self._tasks.get(uid)
        if task is None or task.done():
            return True
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=patience)
        return bool(done)

    def __contains__(self, uid: str) -> bool:
        return uid in self._tasks
