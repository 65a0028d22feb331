"""A list-then-watch informer of one resource in one namespace (or all), as client-go's Reflector does it.

    list in pages (limit + continue) ─► every item to the handler ─► synced ─► watch from the list's resourceVersion
        ▲                                                                     │ bookmarks move the resourceVersion on
        └── 410 Gone (the resourceVersion or a continue token expired) ◄──────┤ the watch ends (server timeout):
                                                                              │   watch again from the last one
        the API fails: wait (backoff), watch again from the last one ◄────────┘

Why not kopf's watcher: kopf queues every listed object at once and handles each through its per-object machinery
(diff-base, progress annotations, a log line per event), which at 10,000 RedisBackups kept the event loop — and the
admission webhook on it — busy for minutes after a restart, and every parsed body alive at once. Here the handler
is awaited per item, page by page (one page of bodies is alive at a time), and it does only what we need.

- The handler gets `(type, body)`: ADDED, MODIFIED or DELETED, the body without managedFields (half of each body,
  which nothing here reads). After a re-list, the objects the informer knew that the list no longer has are handed
  over as DELETED with a body of their metadata (namespace, name, uid): they went while the watch was down.
- A handler that raises is a bug: it is logged with its traceback, and the informer goes on with the next event.
- The watch (synchronous, the official client) runs on a thread of its own and hands its events to the loop
  through a small queue: a slow handler holds the stream back instead of buffering it in memory.
- `synced` is set once the first listing has been handed over completely.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s import api
from redisbackup.k8s.faults import ResourceExpired

log = logging.getLogger(__name__)

Lister = Callable[[str | None], Mapping[str, Any]]
"""One page: the continue token (None: the first page) → the list's JSON (items, metadata.continue/resourceVersion)."""
Watcher = Callable[[str, threading.Event], Iterator[dict[str, Any]]]
"""The watch events from a resourceVersion, until the server ends the watch or the event is set (synchronous)."""
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]

BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before watching/listing again after consecutive failures
QUEUE_SIZE = 100  # watch events read ahead of the handler
QUICK_END = 1.0  # a watch that ends this soon without an event is a failure (no busy loop on an odd apiserver)


def forget_managed_fields(body: Mapping[str, Any]) -> None:
    """Drop metadata.managedFields (in place): the apiserver's server-side-apply bookkeeping, which nothing here
    reads, is about half of each body."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


def _ref(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("uid"):
        return None
    uid = str(metadata["uid"])
    return uid, {"uid": uid, "namespace": metadata.get("namespace"), "name": metadata.get("name")}


class Informer:
    def __init__(
        self,
        name: str,
        lister: Lister,
        watcher: Watcher,
        handler: Handler,
        *,
        backoff: Sequence[float] = BACKOFF,
        queue_size: int = QUEUE_SIZE,
        run_in: Callable[..., Awaitable[Any]] = api.in_thread,
    ) -> None:
        self.name = name
        self._lister = lister
        self._watcher = watcher
        self._handler = handler
        self._backoff = tuple(backoff)
        self._queue_size = queue_size
        self._run_in = run_in  # where the pages are fetched: the Kubernetes pool, or the webhook's (handlers.backups)
        self._known: dict[str, dict[str, Any]] = {}  # uid → its metadata reference (for DELETED after a re-list)
        self.synced = asyncio.Event()
        self.lists = 0
        self.watches = 0
        self.resource_version: str | None = None
        self._stream: _Stream | None = None
        self._relist = False

    def relist(self) -> None:
        """List again now (every object is handed over again), then watch from there."""
        self._relist = True
        if self._stream is not None:
            self._stream.interrupt()

    async def run(self) -> None:
        """List and watch until cancelled."""
        failures = 0
        while True:
            try:
                if self._relist:
                    self._relist, self.resource_version = False, None
                if self.resource_version is None:
                    self.resource_version = await self._list()
                began = time.monotonic()
                handled = await self._watch(self.resource_version)
                if handled or self._relist or time.monotonic() - began > QUICK_END:
                    failures = 0
                    continue
                log.debug("%s: the watch ended at once without an event", self.name)
            except ResourceExpired as expired:
                log.info("%s: listing again: %s", self.name, expired)
                self.resource_version = None
                continue
            except RedisBackupError as fault:
                log.warning("%s: %s", self.name, fault)
            except Exception:  # a bug, or an answer we did not expect: never the end of the informer
                log.exception("%s: listing or watching failed", self.name)
                self.resource_version = None
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _list(self) -> str:
        """Hand every object over, page by page; the list's resourceVersion."""
        self.lists += 1
        seen: dict[str, dict[str, Any]] = {}
        fetching = asyncio.ensure_future(self._run_in(self._lister, None))
        try:
            while True:
                page: Mapping[str, Any] = await fetching
                metadata = page.get("metadata") or {}
                token = metadata.get("continue") or None
                if token is not None:  # the apiserver prepares the next page while this one is handed over
                    fetching = asyncio.ensure_future(self._run_in(self._lister, token))
                for item in page.get("items") or []:
                    ref = _ref(item)
                    if ref is not None:
                        seen[ref[0]] = ref[1]
                        await self._hand_over("MODIFIED" if ref[0] in self._known else "ADDED", item)
                if token is None:
                    resource_version = str(metadata.get("resourceVersion") or "")
                    break
                del page
        finally:
            fetching.cancel()
        gone = [reference for uid, reference in self._known.items() if uid not in seen]
        self._known = seen
        for reference in gone:
            await self._hand_over("DELETED", {"metadata": dict(reference)})
        self.synced.set()
        log.debug("%s: listed %d objects at resourceVersion %s", self.name, len(seen), resource_version)
        return resource_version

    async def _hand_over(self, type_: str, body: dict[str, Any]) -> None:
        forget_managed_fields(body)
        try:
            await self._handler(type_, body)
        except Exception:
            log.exception("%s: the handler of a %s event failed", self.name, type_)

    async def _watch(self, resource_version: str) -> int:
        """Follow the watch from `resource_version` until the server ends it; how many events it handed over.
        Raises the fault that ended it otherwise (ResourceExpired: list again)."""
        self.watches += 1
        stream = self._stream = _Stream(asyncio.get_running_loop(), self._queue_size)
        if self._relist:  # asked for while listing
            stream.interrupt()
        thread = threading.Thread(
            target=stream.pump, args=(self._watcher, resource_version), name=f"watch {self.name}", daemon=True
        )
        thread.start()
        handled = 0
        try:
            while True:
                kind, payload = await stream.get()
                if kind == "end" or kind == "interrupt":
                    return handled
                if kind == "error":
                    raise payload
                obj = payload.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = str(version)
                type_ = str(payload.get("type"))
                if type_ not in ("ADDED", "MODIFIED", "DELETED"):
                    continue  # BOOKMARK: only its resourceVersion matters
                ref = _ref(obj)
                if ref is not None:
                    if type_ == "DELETED":
                        self._known.pop(ref[0], None)
                    else:
                        self._known[ref[0]] = ref[1]
                handled += 1
                await self._hand_over(type_, obj)
        finally:
            stream.stop.set()
            self._stream = None


class _Stream:
    """A watch's events from its thread to the loop: at most `size` read ahead (the thread waits for room)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._room = threading.Semaphore(size)
        self.stop = threading.Event()

    async def get(self) -> tuple[str, Any]:
        item = await self._queue.get()
        if item[0] != "interrupt":  # the only item not put by the thread
            self._room.release()
        return item

    def interrupt(self) -> None:
        """Make `get` return ("interrupt", None) next (on the loop's thread)."""
        self._queue.put_nowait(("interrupt", None))

    def pump(self, watcher: Watcher, resource_version: str) -> None:
        """The watch's thread: its events, then ("end", None) or ("error", the exception that ended it)."""
        outcome: tuple[str, Any] = ("end", None)
        try:
            for event in watcher(resource_version, self.stop):
                if not self._put(("event", event)):
                    return
        except Exception as error:  # handed to the loop, which raises it there
            outcome = ("error", error)
        self._put(outcome)

    def _put(self, item: tuple[str, Any]) -> bool:
        """False once nobody reads the events any more (the watch was left, the loop is closed)."""
        while not self._room.acquire(timeout=1.0):
            if self.stop.is_set():
                return False
        if self.stop.is_set():
            return False
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the operator has stopped
            return False
        return True
