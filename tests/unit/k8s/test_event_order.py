"""The operator's Events reach the apiserver in the order it posts them, and are read back oldest first."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from redisbackup.domain.conditions import Notice
from redisbackup.k8s import events, status

BODY = {
    "apiVersion": "redisbackup.io/v1alpha1",
    "kind": "RedisBackup",
    "metadata": {"name": "bkup-20150515", "namespace": "team-a", "uid": "u-1"},
}


def test_events_posted_outside_kopfs_handlers_arrive_in_the_order_posted(monkeypatch: pytest.MonkeyPatch) -> None:
    arrived: list[str] = []
    done = threading.Event()

    def post(_reference: Mapping[str, Any], notice: Notice) -> None:
        # The first post is the slowest: on a pool of several threads the later ones would overtake it.
        time.sleep(0.2 if notice.reason == "Creating" else 0.0)
        arrived.append(notice.reason)
        if len(arrived) == 3:
            done.set()

    monkeypatch.setattr(status, "_post", post)

    async def snapshot() -> None:
        # Outside kopf's handlers (no kopf context): the path of the informer's backups.
        for reason in ("Creating", "Available", "Verified"):
            status.post_with_kopf(BODY, Notice("Normal", reason, f"{reason} message"))

    asyncio.run(snapshot())
    assert done.wait(5), arrived
    assert arrived == ["Creating", "Available", "Verified"]


def test_events_within_one_second_are_read_back_in_the_order_the_apiserver_stored_them() -> None:
    def event(reason: str, stamp: str, version: str) -> dict[str, Any]:
        return {"reason": reason, "lastTimestamp": stamp, "metadata": {"resourceVersion": version}}

    # Listed by name (random suffixes), as the apiserver answers: the order says nothing.
    listed = [
        event("Available", "2026-12-07T10:00:01Z", "1207"),
        event("Deleting", "2026-12-07T10:00:02Z", "1100"),
        event("Creating", "2026-12-07T10:00:01Z", "998"),
    ]
    assert [e["reason"] for e in sorted(listed, key=events.event_order)] == ["Creating", "Available", "Deleting"]
