"""StatusWriter: a transition the server has applied is always followed by its Event, even when the task writing it
is cancelled mid-call (kopf cancels the snapshot daemon the moment it sees the terminal status); each write applies
everything its field manager has set, starting from what the object records it owns (managedFields)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from redisbackup.domain.conditions import Notice, StatusChange
from redisbackup.k8s.status import FieldManager, StatusWriter, owned_status

BODY = {"metadata": {"name": "nightly", "namespace": "apps", "uid": "u-1"}, "status": {"phase": "creating"}}


async def test_a_patch_that_lands_after_its_writer_was_cancelled_still_posts_its_event() -> None:
    sent, answered = asyncio.Event(), asyncio.Event()
    server: dict[str, Any] = {}
    posted: list[str] = []

    async def apply(namespace: str, name: str, manager: str, status: Mapping[str, Any]) -> Mapping[str, Any]:
        sent.set()
        await answered.wait()  # the apiserver has the request; its answer is still on the way
        server.update(status)
        return {"status": dict(server)}

    writer = StatusWriter(
        BODY, manager=FieldManager.SNAPSHOT, apply=apply, post_event=lambda _ref, notice: posted.append(notice.reason)
    )
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


# What the API server records after the snapshot applied phase, storage, progress and two conditions, and the
# verifier its Verified condition (abridged: the real entries also carry time, apiVersion and fieldsType).
MANAGED = {
    "metadata": {
        "name": "nightly",
        "namespace": "apps",
        "managedFields": [
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {"f:snapshotName": {}}}},
            {
                "manager": "redisbackup-snapshot",
                "operation": "Apply",
                "subresource": "status",
                "fieldsV1": {
                    "f:status": {
                        "f:phase": {},
                        "f:storage": {},
                        "f:progress": {"f:bytesDone": {}},
                        "f:nodeSnapshots": {},
                        "f:conditions": {
                            'k:{"type":"Ready"}': {".": {}, "f:type": {}, "f:status": {}, "f:reason": {}},
                            'k:{"type":"Progressing"}': {".": {}, "f:type": {}, "f:status": {}},
                        },
                    }
                },
            },
            {
                "manager": "redisbackup-verifier",
                "operation": "Apply",
                "subresource": "status",
                "fieldsV1": {"f:status": {"f:conditions": {'k:{"type":"Verified"}': {"f:type": {}, "f:status": {}}}}},
            },
        ],
    },
    "status": {
        "phase": "creating",
        "storage": "embedded",
        "observedGeneration": 1,
        "progress": {"bytesDone": 10, "bytesTotal": 99},
        "nodeSnapshots": [{"cacheNodeId": "0001", "sourcePod": "cache-0"}],
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Creating", "message": "m"},
            {"type": "Progressing", "status": "True", "reason": "Creating"},
            {"type": "Verified", "status": "True"},
        ],
    },
}


def test_what_a_manager_owns_is_read_from_managed_fields() -> None:
    assert owned_status(MANAGED, FieldManager.SNAPSHOT) == {
        "phase": "creating",
        "storage": "embedded",
        "progress": {"bytesDone": 10},
        "nodeSnapshots": [{"cacheNodeId": "0001", "sourcePod": "cache-0"}],
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Creating"},
            {"type": "Progressing", "status": "True"},
        ],
    }
    assert owned_status(MANAGED, FieldManager.VERIFIER) == {"conditions": [{"type": "Verified", "status": "True"}]}
    assert owned_status(MANAGED, FieldManager.OBSERVER) == {}
    assert owned_status({"metadata": {}}, FieldManager.SNAPSHOT) == {}


async def test_a_new_writer_applies_what_its_manager_applied_before_and_each_write_is_whole() -> None:
    sent: list[dict[str, Any]] = []

    async def apply(namespace: str, name: str, manager: str, status: Mapping[str, Any]) -> Mapping[str, Any]:
        sent.append(dict(status))
        return {"status": {"phase": "creating", "answered": True}}

    writer = StatusWriter(MANAGED, manager=FieldManager.SNAPSHOT, apply=apply, post_event=lambda _ref, _notice: None)
    waiting = [{"type": "Progressing", "status": "True", "reason": "CacheClusterNotFound"}]
    assert await writer.apply(StatusChange({"conditions": waiting}, None))
    (first,) = sent
    assert (first["phase"], first["storage"], first["progress"]) == ("creating", "embedded", {"bytesDone": 10})
    assert first["conditions"] == [
        {"type": "Ready", "status": "False", "reason": "Creating"},
        {"type": "Progressing", "status": "True", "reason": "CacheClusterNotFound"},
    ]
    assert writer.status == {"phase": "creating", "answered": True}, "the writer keeps what the server answered"

    assert await writer.apply(StatusChange({"progress": None, "phase": "available"}, None))
    assert "progress" not in sent[-1], "a field set to None is no longer applied: the server removes it"
    assert sent[-1]["phase"] == "available"


async def test_a_change_the_status_already_shows_is_remembered_but_not_written() -> None:
    sent: list[dict[str, Any]] = []

    async def apply(namespace: str, name: str, manager: str, status: Mapping[str, Any]) -> Mapping[str, Any]:
        sent.append(dict(status))
        return {"status": dict(status)}

    writer = StatusWriter(BODY, manager=FieldManager.VERIFIER, apply=apply, post_event=lambda _ref, _notice: None)
    assert not await writer.apply(StatusChange({"observedGeneration": 3}, None, current=True))
    assert sent == []
    await writer.apply(StatusChange({"verification": {"result": "Passed"}}, None))
    assert sent == [{"observedGeneration": 3, "verification": {"result": "Passed"}}], "never an older generation"
