"""Live pages: Kubernetes watches, made as the visitor, turned into what a page needs to update itself.

A `Feed` is one watched collection (the RedisBackups of a namespace, its Pods …): how to list it, and how to watch
it from the list's resourceVersion. `LiveStreams.follow` lists every feed, then watches them all at once and
yields, in order: `Listed` (every feed's items: the page renders itself again), `Changed` (one watch event), and
`Idle` (nothing for a while: the page's stream sends a keep-alive, which is also how a closed browser is noticed).
A watch the apiserver ends (its timeout) is resumed from the last resourceVersion seen; one too old for the
apiserver (410) starts over with a new list.

The kubernetes client's watch is synchronous, so each watch runs on a thread of a pool of this console's own (the
API calls' shared pool must never be held by a long watch). The number of streams open at once is bounded, per
user and in all, so that nobody can tie the server up by opening pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from redisbackup.k8s.faults import ResourceExpired

WATCH_SECONDS = 50
IDLE_SECONDS = 15.0


@dataclass(frozen=True)
class Feed:
    list: Callable[[], dict[str, Any]]
    """A list call (synchronous): `{"metadata": {"resourceVersion": …}, "items": […]}`."""
    watch: Callable[[str, threading.Event], Iterator[dict[str, Any]]]
    """A watch (synchronous) from a resourceVersion, until the apiserver ends it or the event is set."""


@dataclass(frozen=True)
class Listed:
    items: tuple[list[dict[str, Any]], ...]


@dataclass(frozen=True)
class Changed:
    feed: int
    type: str  # ADDED, MODIFIED, DELETED
    object: dict[str, Any]


@dataclass(frozen=True)
class Idle:
    pass


class TooManyStreams(Exception):
    pass


class LiveStreams:
    def __init__(self, *, max_streams: int = 64, per_user: int = 6, max_watches: int = 128) -> None:
        self.max_streams = max_streams
        self.per_user = per_user
        self._executor = ThreadPoolExecutor(max_workers=max_watches, thread_name_prefix="console-watch")
        self._open: Counter[str] = Counter()
        self._stops: set[threading.Event] = set()
        self._closed = False

    @contextlib.asynccontextmanager
    async def opened(self, user: str) -> AsyncIterator[threading.Event]:
        """A stream's slot, and the event that stops its watches (set when it ends or the server stops)."""
        if self._closed or sum(self._open.values()) >= self.max_streams or self._open[user] >= self.per_user:
            raise TooManyStreams(f"too many live pages are open (at most {self.per_user} per user)")
        stop = threading.Event()
        self._open[user] += 1
        self._stops.add(stop)
        try:
            yield stop
        finally:
            stop.set()
            self._stops.discard(stop)
            self._open[user] -= 1
            if self._open[user] <= 0:
                del self._open[user]

    async def close(self) -> None:
        """Stop every stream (the server is stopping): their watches end at their next event or timeout."""
        self._closed = True
        for stop in list(self._stops):
            stop.set()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _list(self, feeds: Sequence[Feed]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(self._executor, feed.list) for feed in feeds)))

    def _start(
        self, index: int, feed: Feed, version: str, stop: threading.Event, queue: asyncio.Queue[tuple[Any, ...]]
    ) -> None:
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                for event in feed.watch(version, stop):
                    loop.call_soon_threadsafe(queue.put_nowait, ("event", index, event))
                loop.call_soon_threadsafe(queue.put_nowait, ("ended", index, None))
            except Exception as error:  # handed to the stream, which decides
                loop.call_soon_threadsafe(queue.put_nowait, ("failed", index, error))

        self._executor.submit(run)

    async def follow(self, feeds: Sequence[Feed], stop: threading.Event) -> AsyncIterator[Listed | Changed | Idle]:
        while not stop.is_set():
            listings = await self._list(feeds)
            yield Listed(tuple(listing.get("items") or [] for listing in listings))
            versions = [str((listing.get("metadata") or {}).get("resourceVersion", "")) for listing in listings]
            queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
            # Each generation of watches has its own stop: after a 410 the old ones must end too.
            generation = threading.Event()
            for index, feed in enumerate(feeds):
                self._start(index, feed, versions[index], _either(stop, generation), queue)
            try:
                expired = False
                while not stop.is_set() and not expired:
                    try:
                        kind, index, payload = await asyncio.wait_for(queue.get(), IDLE_SECONDS)
                    except TimeoutError:
                        yield Idle()
                        continue
                    if kind == "event":
                        body = payload.get("object") or {}
                        version = (body.get("metadata") or {}).get("resourceVersion")
                        if version:
                            versions[index] = str(version)
                        if payload.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            yield Changed(index, str(payload["type"]), body)
                    elif kind == "ended" and not stop.is_set():
                        self._start(index, feeds[index], versions[index], _either(stop, generation), queue)
                    elif kind == "failed":
                        if not isinstance(payload, ResourceExpired):
                            raise payload
                        expired = True
            finally:
                generation.set()


class _Either(threading.Event):
    """Set when either of two events is: a watch stops with its stream or with its generation."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        super().__init__()
        self._first, self._second = first, second

    def is_set(self) -> bool:
        return self._first.is_set() or self._second.is_set()


def _either(first: threading.Event, second: threading.Event) -> threading.Event:
    return _Either(first, second)
