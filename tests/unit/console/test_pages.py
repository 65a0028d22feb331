"""The Backups page's filters and pages, and the live streams' list-then-watch loop, without a cluster."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from redisbackup.console.backups_page import Filters, page_of
from redisbackup.console.live_streams import Changed, Feed, Idle, Listed, LiveStreams, TooManyStreams
from redisbackup.console.visitors import Visitor
from redisbackup.k8s.faults import ResourceExpired

VISITOR = Visitor("alice", None, None)  # type: ignore[arg-type]  # rows need no client


def body(index: int, namespace: str = "team-a", phase: str = "available") -> dict[str, Any]:
    return {
        "metadata": {"name": f"b-{index:04d}", "namespace": namespace,
                     "creationTimestamp": f"2026-01-01T00:{index // 60 % 60:02d}:{index % 60:02d}Z"},
        "spec": {"snapshotName": f"b-{index:04d}", "cacheClusterId": "node"},
        "status": {"phase": phase},
    }  # fmt: skip


def test_a_thousand_backups_are_shown_fifty_a_page_newest_first() -> None:
    bodies = [body(i) for i in range(1000)]
    first = page_of(VISITOR, bodies, Filters.of({}), 50)
    assert (first.total, first.pages, first.first, len(first.rows)) == (1000, 20, 1, 50)
    assert [row.name for row in first.rows[:2]] == ["b-0999", "b-0998"]
    last = page_of(VISITOR, bodies, Filters.of({"page": "20"}), 50)
    assert (last.first, last.rows[-1].name) == (951, "b-0000")
    beyond = page_of(VISITOR, bodies, Filters.of({"page": "99"}), 50)
    assert beyond.first == 951  # a page past the end shows the last one
    assert Filters.of({"page": "x"}).page == 1


def test_the_namespace_and_status_filters_select_and_keep_their_query() -> None:
    bodies = [body(1), body(2, "team-b"), body(3, phase="creating"), {**body(4), "metadata": {
        **body(4)["metadata"], "deletionTimestamp": "2026-01-01T01:00:00Z"}}]  # fmt: skip
    chosen = page_of(VISITOR, bodies, Filters.of({"namespace": "team-a", "status": "available"}), 50)
    assert [row.name for row in chosen.rows] == ["b-0001"]
    deleting = page_of(VISITOR, bodies, Filters.of({"status": "deleting"}), 50)
    assert [row.name for row in deleting.rows] == ["b-0004"]
    assert Filters.of({"status": "bogus"}).status == ""
    assert Filters.of({"namespace": "a", "status": "failed", "page": "3"}).query(page=4) == (
        "namespace=a&status=failed&page=4"
    )


class FakeCollection:
    """A list that a watch follows: events handed in by the test, a 410 on demand."""

    def __init__(self) -> None:
        self.lists = 0
        self.events: list[dict[str, Any] | Exception] = []
        self.wake = threading.Event()

    def list(self) -> dict[str, Any]:
        self.lists += 1
        return {"metadata": {"resourceVersion": str(self.lists)}, "items": [body(self.lists)]}

    def watch(self, version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
        while not stop.is_set():
            if self.events:
                event = self.events.pop(0)
                if isinstance(event, Exception):
                    raise event
                yield event
                continue
            if self.wake.wait(0.05):
                self.wake.clear()


async def test_a_stream_lists_then_follows_changes_and_lists_again_after_a_410() -> None:
    streams = LiveStreams()
    collection = FakeCollection()
    feed = Feed(collection.list, collection.watch)
    seen: list[Any] = []
    async with streams.opened("alice") as stop:

        async def follow() -> None:
            async for update in streams.follow([feed], stop):
                seen.append(update)
                if isinstance(update, Listed) and collection.lists == 1:
                    collection.events += [{"type": "MODIFIED", "object": body(7)}, ResourceExpired("gone")]
                    collection.wake.set()
                if len(seen) == 3:
                    stop.set()
                    return

        await asyncio.wait_for(follow(), 10)
    await streams.close()
    assert isinstance(seen[0], Listed)
    assert seen[1] == Changed(0, "MODIFIED", body(7))
    assert isinstance(seen[2], Listed)  # after the 410: a new list, the page renders itself afresh
    assert collection.lists == 2
    assert not any(isinstance(update, Idle) for update in seen)


async def test_each_user_may_open_only_a_few_live_pages_at_once() -> None:
    streams = LiveStreams(per_user=2, max_streams=3)
    async with streams.opened("alice"), streams.opened("alice"):
        with pytest.raises(TooManyStreams):
            async with streams.opened("alice"):
                pass
        async with streams.opened("bob"):
            with pytest.raises(TooManyStreams):
                async with streams.opened("carol"):
                    pass
    async with streams.opened("alice"):
        pass  # closed slots are free again
    await streams.close()
    with pytest.raises(TooManyStreams):
        async with streams.opened("alice"):
            pass
