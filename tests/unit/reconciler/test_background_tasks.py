"""workflows.background: the operator's own task per RedisBackup with work left (what kopf daemons did, without
kopf keeping a body for every finished one)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from redisbackup.domain.faults import RedisBackupError
from redisbackup.workflows.background import ObjectTasks


def body(uid: str, phase: str | None = None, **metadata: Any) -> dict[str, Any]:
    status = {"phase": phase} if phase else {}
    return {"metadata": {"uid": uid, "name": f"b-{uid}", "namespace": "team", **metadata}, "status": status}


def not_terminal(obj: Mapping[str, Any]) -> bool:
    return (obj.get("status") or {}).get("phase") not in ("available", "failed")


class Recorder:
    """Work that records the bodies it saw, fails as told, and can be held until released."""

    def __init__(self, failures: int = 0) -> None:
        self.seen: list[dict[str, Any]] = []
        self.failures = failures
        self.release = asyncio.Event()
        self.release.set()
        self.cancelled = 0
        self.started = asyncio.Event()

    async def __call__(self, obj: Mapping[str, Any]) -> None:
        self.seen.append(dict(obj))
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.failures:
            self.failures -= 1
            raise RedisBackupError("not yet", transient=True)


def tasks(work: Recorder, delays: list[int] | None = None) -> ObjectTasks:
    def retry_delay(retry: int, fault: RedisBackupError) -> float:
        if delays is not None:
            delays.append(retry)
        return 0.01

    return ObjectTasks(
        "test", work, wanted=not_terminal, retry_delay=retry_delay, backoff=0.01, cancellation_timeout=5.0
    )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_only_objects_with_work_left_get_a_task_and_finished_work_is_never_started_again() -> None:
    work = Recorder()
    running = tasks(work)
    running.observe(body("done", "available"))
    running.observe(body("failed", "failed"))
    running.observe(body("new"))
    assert "done" not in running
    assert "failed" not in running
    assert "new" in running
    await settle()
    assert [seen["metadata"]["uid"] for seen in work.seen] == ["new"]
    assert len(running) == 0, "the task and its body are dropped when the work returns"
    running.observe(body("new", "creating"))  # a late event still showing the old phase
    await settle()
    assert len(work.seen) == 1, "a snapshot that finished here is not taken twice"
    running.observe(body("new"), deleted=True)
    running.observe(body("new"))  # the same uid can only come back after its DELETED event in a restore of etcd
    await settle()
    assert len(work.seen) == 2


async def test_a_fault_is_retried_after_the_delay_with_the_latest_body_and_counted_retries() -> None:
    work, delays = Recorder(failures=2), []
    work.release.clear()
    running = tasks(work, delays)
    running.observe(body("u1", "creating"))
    await work.started.wait()
    running.observe(body("u1", "creating", labels={"edited": "yes"}))  # an event while the attempt runs
    work.release.set()
    for _ in range(100):
        if "u1" not in running:
            break
        await asyncio.sleep(0.01)
    assert len(work.seen) == 3
    assert delays == [0, 1]
    assert work.seen[-1]["metadata"]["labels"] == {"edited": "yes"}, "a retry sees the object as it is now"


async def test_a_deletion_cancels_the_work_and_stop_waits_for_it_to_clean_up() -> None:
    work = Recorder()
    work.release.clear()
    running = tasks(work)
    running.observe(body("u1"))
    await work.started.wait()
    running.observe(body("u1", deletionTimestamp="2026-01-01T00:00:00Z"))
    assert await running.stop("u1")
    assert work.cancelled == 1
    assert "u1" not in running
    running.observe(body("u1", deletionTimestamp="2026-01-01T00:00:00Z"))
    await settle()
    assert len(work.seen) == 1, "nothing starts for an object being deleted"
    assert await running.stop("unknown")


async def test_close_cancels_every_task() -> None:
    work = Recorder()
    work.release.clear()
    running = tasks(work)
    for uid in ("a", "b", "c"):
        running.observe(body(uid))
    await settle()
    await running.close()
    assert work.cancelled == 3
    assert len(running) == 0


async def test_work_whose_object_turned_terminal_meanwhile_is_cancelled_as_a_daemon_whose_filter_stopped_matching() -> (
    None
):
    work = Recorder()
    work.release.clear()
    running = tasks(work)
    running.observe(body("u1", "creating"))
    await work.started.wait()
    running.observe(body("u1", "creating", labels={"a": "b"}))
    await settle()
    assert work.cancelled == 0
    running.observe(body("u1", "failed"))  # e.g. written by another replica's attempt
    await settle()
    assert work.cancelled == 1
    assert "u1" not in running
