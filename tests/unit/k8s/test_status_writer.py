"""StatusWriter: a transition the server has applied is always followed by its Event, even when the task writing it
is cancelled mid-call (kopf cancels the snapshot daemon the moment it sees the terminal status)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from redisbackup.domain.conditions import Notice, StatusChange
from redisbackup.k8s.status import StatusWriter

BODY = {"metadata": {"name": "nightly", "namespace": "apps", "uid": "u-1"}, "status": {"phase": "creating"}}


async def test_a_patch_that_lands_after_its_writer_was_cancelled_still_posts_its_event() -> None:
    sent, answered = asyncio.Event(), asyncio.Event()
    server: dict[str, Any] = {}
    posted: list[str] = []

    async def patch(namespace: str, name: str, change: Mapping[str, Any]) -> None:
        sent.set()
        await answered.wait()  # the apiserver has the request; its answer is still on the way
        server.update(change)

    writer = StatusWriter(BODY, patch=patch, post_event=lambda _ref, notice: posted.append(notice.reason))
    change = StatusChange({"phase": "available"}, Notice("Normal", "SnapshotAvailable", "stored"))
    task = asyncio.create_task(writer.apply(change))
    await sent.wait()
    task.cancel()  # what kopf does once its watch shows phase available
    with pytest.raises(asyncio.CancelledError):
        await task
    answered.set()
    for _ in range(5):
        await asyncio.sleep(0)

    assert server == {"phase": "available"}
    assert posted == ["SnapshotAvailable"], "the Event follows the status the server has"
    assert writer.status["phase"] == "available"
    assert writer.writes == 1
