"""k8s.informer: paged listing, watching from the list's resourceVersion, bookmarks, 410 Gone and reconnects.

The transport is a scripted apiserver (pages and watch streams as the API returns them); the same informer runs
against the real apiserver in the e2e suites (tests/e2e/test_operator_*.py) and the scale bench.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from redisbackup.k8s.faults import KubernetesUnavailable, ResourceExpired
from redisbackup.k8s.informer import Informer


def obj(uid: str, version: str, *, name: str | None = None, managed: bool = True) -> dict[str, Any]:
    metadata: dict[str, Any] = {"uid": uid, "name": name or uid, "namespace": "team", "resourceVersion": version}
    if managed:
        metadata["managedFields"] = [{"manager": "kubectl"}]
    return {"metadata": metadata, "spec": {"snapshotName": uid}}


class Apiserver:
    """Lists are paged by `limit`; each watch call takes the next scripted stream (a list of events, or an
    exception raised after them)."""

    def __init__(self, objects: list[dict[str, Any]], version: str, *, limit: int) -> None:
        self.objects = objects
        self.version = version
        self.limit = limit
        self.pages: list[str | None] = []
        self.watched_from: list[str] = []
        self.streams: list[tuple[list[dict[str, Any]], Exception | None]] = []
        self.more_streams = threading.Event()
        self.expired_tokens: set[str] = set()

    def list_page(self, token: str | None) -> Mapping[str, Any]:
        self.pages.append(token)
        if token in self.expired_tokens:
            self.expired_tokens.discard(token)
            raise ResourceExpired("the continue token expired")
        start = int(token or 0)
        items = [dict(o, metadata=dict(o["metadata"])) for o in self.objects[start : start + self.limit]]
        metadata: dict[str, Any] = {"resourceVersion": self.version}
        if start + self.limit < len(self.objects):
            metadata["continue"] = str(start + self.limit)
        return {"items": items, "metadata": metadata}

    def watch(self, version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
        self.watched_from.append(version)
        while not self.streams:
            if stop.is_set() or not self.more_streams.wait(0.05):
                if stop.is_set():
                    return
                continue
        events, error = self.streams.pop(0)
        yield from events
        if error is not None:
            raise error


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []

    async def __call__(self, type_: str, body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        self.events.append((type_, metadata["uid"], "managedFields" in metadata))


async def until(condition: Any) -> None:
    deadline = asyncio.get_running_loop().time() + 5.0
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
async def running() -> Any:
    tasks: list[asyncio.Task[None]] = []

    def start(informer: Informer) -> None:
        tasks.append(asyncio.create_task(informer.run()))

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_listing_is_paged_handed_over_without_managed_fields_then_watched_from_its_version(
    running: Any,
) -> None:
    api = Apiserver([obj(f"u{i}", str(10 + i)) for i in range(7)], "100", limit=3)
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    assert api.pages == [None, "3", "6"], "three pages of at most 3"
    assert seen.events == [("ADDED", f"u{i}", False) for i in range(7)]
    await until(lambda: api.watched_from == ["100"])
    api.streams.append(([{"type": "ADDED", "object": obj("u7", "101")}], None))
    api.more_streams.set()
    await until(lambda: len(seen.events) == 8)
    assert seen.events[-1] == ("ADDED", "u7", False)


async def test_bookmarks_move_the_resource_version_on_and_the_next_watch_starts_there(running: Any) -> None:
    api = Apiserver([obj("u1", "5")], "50", limit=500)
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.01])
    api.streams.append(
        (
            [
                {"type": "MODIFIED", "object": obj("u1", "60")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "75"}}},
            ],
            None,
        )
    )
    api.streams.append(([], None))
    api.more_streams.set()
    running(informer)
    await until(lambda: len(api.watched_from) >= 2)
    assert api.watched_from[:2] == ["50", "75"], "the bookmark's resourceVersion, not the last object's"
    assert seen.events == [("ADDED", "u1", False), ("MODIFIED", "u1", False)], "a bookmark is no object event"
    assert informer.lists == 1, "a watch that ends is resumed, not re-listed"


async def test_410_gone_lists_again_and_what_went_meanwhile_is_handed_over_as_deleted(running: Any) -> None:
    api = Apiserver([obj("a", "1"), obj("b", "2"), obj("c", "3")], "10", limit=2)
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    # While the watch was down, b went and d came; then the watch's resourceVersion is too old.
    api.objects = [obj("a", "1"), obj("c", "3"), obj("d", "20")]
    api.version = "30"
    api.streams.append(([], ResourceExpired("too old resource version: 10 (25)")))
    api.more_streams.set()
    await until(lambda: informer.lists == 2 and len(api.watched_from) == 2)
    assert seen.events[3:] == [
        ("MODIFIED", "a", False),
        ("MODIFIED", "c", False),
        ("ADDED", "d", False),
        ("DELETED", "b", False),
    ]
    assert api.watched_from == ["10", "30"]


async def test_a_continue_token_that_expires_mid_listing_starts_the_listing_over(running: Any) -> None:
    api = Apiserver([obj(f"u{i}", str(i)) for i in range(5)], "9", limit=2)
    api.expired_tokens.add("4")
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    assert api.pages == [None, "2", "4", None, "2", "4"]
    assert [e[1] for e in seen.events] == ["u0", "u1", "u2", "u3", "u0", "u1", "u2", "u3", "u4"]
    assert informer.lists == 2


async def test_an_apiserver_that_fails_is_watched_again_from_the_last_version_after_a_backoff(running: Any) -> None:
    api = Apiserver([obj("a", "1")], "10", limit=500)
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.2])
    api.streams.append(([{"type": "MODIFIED", "object": obj("a", "11")}], KubernetesUnavailable("connection reset")))
    api.streams.append(([{"type": "MODIFIED", "object": obj("a", "12")}], None))
    api.more_streams.set()
    running(informer)
    began = asyncio.get_running_loop().time()
    await until(lambda: len(seen.events) == 3)
    assert asyncio.get_running_loop().time() - began >= 0.2, "it waited before watching again"
    assert api.watched_from[:2] == ["10", "11"], "resumed from the last event, no re-list"
    assert informer.lists == 1


async def test_a_handler_that_raises_is_logged_and_the_informer_goes_on(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = Apiserver([obj("bad", "1"), obj("good", "2")], "10", limit=500)
    handled: list[str] = []

    async def handler(type_: str, body: dict[str, Any]) -> None:
        if body["metadata"]["uid"] == "bad":
            raise ValueError("a bug")
        handled.append(body["metadata"]["uid"])

    informer = Informer("test", api.list_page, api.watch, handler, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    assert handled == ["good"]
    assert "the handler of a ADDED event failed" in caplog.text


async def test_a_slow_handler_holds_the_watch_back_instead_of_buffering_it(running: Any) -> None:
    api = Apiserver([], "1", limit=500)
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(type_: str, body: dict[str, Any]) -> None:
        await release.wait()
        handled.append(body["metadata"]["uid"])

    read: list[int] = []

    def watch(version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
        for i in range(50):
            read.append(i)
            yield {"type": "ADDED", "object": obj(f"u{i}", str(2 + i))}
        stop.wait(5)

    informer = Informer("test", api.list_page, watch, handler, backoff=[0.01], queue_size=5)
    running(informer)
    await asyncio.sleep(0.3)
    assert len(read) <= 5 + 2, f"the watch read {len(read)} events ahead of a handler that has handled none"
    release.set()
    await until(lambda: len(handled) == 50)


async def test_relist_interrupts_the_watch_and_hands_every_object_over_again(running: Any) -> None:
    api = Apiserver([obj("a", "1"), obj("b", "2")], "10", limit=500)
    seen = Seen()
    informer = Informer("test", api.list_page, api.watch, seen, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    await until(lambda: api.watched_from == ["10"])
    informer.relist()
    await until(lambda: informer.lists == 2)
    assert seen.events[2:] == [("MODIFIED", "a", False), ("MODIFIED", "b", False)]


async def test_an_unexpected_error_while_listing_is_logged_and_the_listing_tried_again(
    running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = Apiserver([obj("a", "1")], "10", limit=500)
    broken = [ValueError("not JSON")]
    listed = api.list_page

    def list_page(token: str | None) -> Mapping[str, Any]:
        if broken:
            raise broken.pop()
        return listed(token)

    seen = Seen()
    informer = Informer("test", list_page, api.watch, seen, backoff=[0.01])
    running(informer)
    await asyncio.wait_for(informer.synced.wait(), 5)
    assert seen.events == [("ADDED", "a", False)]
    assert "listing or watching failed" in caplog.text
