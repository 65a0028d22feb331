"""One asyncio task per RedisBackup that has work left (its snapshot, its verification), owned by the operator.

kopf daemons would do this, but kopf keeps the last body of *every* object of a resource that has a daemon — of
the finished RedisBackups too, whose daemons never start — for as long as the object lives: at 10,000 backups that
alone is ~50 MB of Python objects, and several times that in a heap fragmented around them (tests/bench/
test_bench_scale.py). Here only the RedisBackups with work left cost anything: a task and their latest body, both
dropped when the work ends; a terminal backup is one `wanted(body)` call per watch event and nothing else.

The semantics are those the daemons had:
- `observe` is called with every watch event of the resource (also the initial listing: that is the resume after
  a restart). It starts the work when `wanted(body)` and none runs for the uid, keeps the body the work sees up to
  date while it runs (one dict, updated in place, as kopf's live body was), and cancels the work when the object
  is being deleted or gone, or no longer wanted (terminal: as kopf stopped a daemon whose filter stopped matching).
- Work that returns is done for this process: it is not started again for the same uid (a late event still showing
  the old phase must not start a snapshot twice); it may start again only after the operator restarts.
- Work that raises a `RedisBackupError` is retried after `retry_delay(retry, fault)`; any other exception (a bug)
  is logged with its traceback and retried after `backoff` seconds.
- `stop(uid)` cancels the work of one object and waits up to `cancellation_timeout` for it to clean up (a snapshot
  aborts its uploads and removes its partial objects); `close()` does that for all at the operator's exit.

kopf's peering pauses daemons, not these tasks: a replica that pauses (another with a higher priority appeared)
finishes the work it has in flight, fenced by the source's snapshotting lease (k8s.locks), which the other replica
respects while this one lives; it starts no new work while paused, since kopf then delivers it no events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.domain.faults import RedisBackupError

log = logging.getLogger(__name__)

Work = Callable[[Mapping[str, Any]], Awaitable[object]]
RetryDelay = Callable[[int, RedisBackupError], float]


@dataclass
class _Running:
    body: dict[str, Any]
    task: asyncio.Task[None] | None = None


async def retry_faults(
    name: str,
    body: dict[str, Any],
    work: Callable[[dict[str, Any]], Awaitable[object]],
    delay: Callable[[int, RedisBackupError | None], float],
) -> None:
    """`await work(body)` until it returns. A `RedisBackupError` (already told in the status where it concerns the
    user) is retried after `delay(retry, fault)`; any other exception, a bug, is logged with its traceback and
    retried after `delay(retry, None)`. `body` is read again at each attempt: the caller keeps it current."""
    retry = 0
    while True:
        try:
            await work(body)
            return
        except RedisBackupError as fault:
            wait = delay(retry, fault)
            log.info("%s %s: retrying in %gs after %s", name, _names(body), wait, fault.code)
        except Exception:
            wait = delay(retry, None)
            log.exception("%s %s: unexpected error, retrying in %gs", name, _names(body), wait)
        retry += 1
        await asyncio.sleep(wait)


def _is_deleting(body: Mapping[str, Any]) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid") or "")


def _names(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


class ObjectTasks:
    """The running work of kind `name` (e.g. "snapshot"), at most one task per object uid."""

    def __init__(
        self,
        name: str,
        work: Work,
        *,
        wanted: Callable[[Mapping[str, Any]], bool],
        retry_delay: RetryDelay,
        backoff: float,
        cancellation_timeout: float,
    ) -> None:
        self.name = name
        self._work = work
        self._wanted = wanted
        self._retry_delay = retry_delay
        self._backoff = backoff
        self._cancellation_timeout = cancellation_timeout
        self._running: dict[str, _Running] = {}
        self._done: set[str] = set()  # uids whose work returned in this process: never started again

    def observe(self, body: Mapping[str, Any], *, deleted: bool = False) -> None:
        """One watch event of an object (`deleted`: a DELETED event): start, follow or cancel its work."""
        uid = _uid(body)
        if not uid:
            return
        running = self._running.get(uid)
        if deleted or _is_deleting(body):
            if deleted:
                self._done.discard(uid)
            if running is not None and running.task is not None:
                running.task.cancel()  # stop() waits for it to clean up (the deletion handler calls it)
            if running is not None:
                running.body.clear()
                running.body.update(body)
            return
        if running is not None:
            running.body.clear()  # in place: the work reads the object as it is now, as a kopf daemon's live body
            running.body.update(body)
            if not self._wanted(body) and running.task is not None:
                # Finished (or failed) meanwhile — by this very work's last write, or by another process: end it,
                # as kopf ended a daemon whose filter stopped matching (the workflows expect that cancellation).
                running.task.cancel()
            return
        if uid in self._done or not self._wanted(body):
            return
        running = self._running[uid] = _Running(body=dict(body))
        running.task = asyncio.create_task(self._run(uid, running), name=f"{self.name} {_names(body)}")

    async def _run(self, uid: str, running: _Running) -> None:
        def delay(retry: int, fault: RedisBackupError | None) -> float:
            # A bug the work did not turn into a fault waits the longest delay: kopf's daemons retried those too.
            return self._backoff if fault is None else self._retry_delay(retry, fault)

        try:
            await retry_faults(self.name, running.body, self._work, delay)
            self._done.add(uid)
        finally:
            if self._running.get(uid) is running:
                del self._running[uid]

    async def stop(self, uid: str) -> bool:
        """Cancel the work of `uid` if any and wait for it to end; False if it did not within the timeout."""
        running = self._running.get(uid)
        if running is None or running.task is None or running.task.done():
            return True
        running.task.cancel()
        done, _ = await asyncio.wait({running.task}, timeout=self._cancellation_timeout)
        return bool(done)

    async def close(self) -> None:
        """Cancel every work and wait for them to end (the operator stops)."""
        tasks = [r.task for r in self._running.values() if r.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._cancellation_timeout)

    def __contains__(self, uid: str) -> bool:
        return uid in self._running

    def __len__(self) -> int:
        return len(self._running)
