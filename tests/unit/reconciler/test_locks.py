"""The snapshotting annotation: taken with a precondition, given back only by its holder, taken over when stale."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from redisbackup.domain.pods import Workload
from redisbackup.k8s.faults import UpdateConflict
from redisbackup.k8s.locks import (
    ANNOTATION,
    LEASE_ANNOTATION,
    LEASE_SECONDS,
    UID_ANNOTATION,
    Holder,
    LockConflict,
    Marking,
    SnapshotLocks,
)

STS = Workload("StatefulSet", "cache")
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
US, OLD_POD = "operator-new/1/500/b00t/4026531836", "operator-old/1/400/b00t/4026531836"
ME = Holder("nightly", "uid-1", "team", process=US, attempt="20260501T120000Z-aaaa")


class FakeLocks(SnapshotLocks):
    """The workload and the RedisBackups as plain dicts; patches check the resourceVersion like the apiserver."""

    def __init__(
        self,
        annotations: dict[str, str] | None = None,
        backups: dict[str, dict[str, Any]] | None = None,
        *,
        running: dict[str, bool | None] | None = None,
    ):
        self.now = NOW
        running = running or {}
        super().__init__(process_check=lambda identity: running.get(identity), clock=lambda: self.now)
        self.workload: dict[str, Any] | None = {"metadata": {"resourceVersion": "1", "annotations": annotations or {}}}
        self.backups = backups or {}
        self.conflicts = 0  # how many patches to refuse with 409 first (someone else wrote meanwhile)

    def _read(self, namespace: str, workload: Workload) -> dict[str, Any] | None:
        return self.workload

    def _patch(self, namespace: str, workload: Workload, patch: dict[str, Any]) -> None:
        assert self.workload is not None
        if self.conflicts or patch["metadata"]["resourceVersion"] != self.workload["metadata"]["resourceVersion"]:
            self.conflicts = max(0, self.conflicts - 1)
            raise UpdateConflict("changed meanwhile")
        annotations = self.workload["metadata"]["annotations"]
        for key, value in patch["metadata"]["annotations"].items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        self.workload["metadata"]["resourceVersion"] = str(int(self.workload["metadata"]["resourceVersion"]) + 1)

    def _holder_is_live(self, holder: Holder) -> bool:
        body = self.backups.get(holder.name)
        return bool(body and body["uid"] == holder.uid and body.get("phase") == "creating")

    @property
    def annotations(self) -> dict[str, str]:
        assert self.workload is not None
        return dict(self.workload["metadata"]["annotations"])


def lease(process: str, attempt: str, renewed: dt.datetime = NOW) -> str:
    return Holder("x", "u", process=process, attempt=attempt).lease(renewed)


def held_by_us(locks: FakeLocks) -> bool:
    annotations = locks.annotations
    held = json.loads(annotations[LEASE_ANNOTATION])
    return (annotations[ANNOTATION], annotations[UID_ANNOTATION], held["holderIdentity"], held["attempt"]) == (
        "nightly",
        "uid-1",
        US,
        ME.attempt,
    )


def test_a_free_workload_is_marked_with_our_process_and_attempt_and_released_by_that_attempt_only() -> None:
    locks = FakeLocks()
    assert locks.acquire("team", STS, ME) == Marking()
    assert held_by_us(locks)
    assert json.loads(locks.annotations[LEASE_ANNOTATION])["renewTime"] == "2026-05-01T12:00:00.000000Z"
    locks.release("team", STS, Holder("other", "uid-9", "team"))
    locks.release("team", STS, Holder("nightly", "uid-1", "team", process=OLD_POD, attempt="old"))
    assert held_by_us(locks), "only the holder's own attempt removes the mark"
    locks.release("team", STS, ME)
    assert locks.annotations == {}


def test_a_live_holder_keeps_the_mark_and_is_named() -> None:
    locks = FakeLocks(
        {ANNOTATION: "first", UID_ANNOTATION: "uid-0"}, backups={"first": {"uid": "uid-0", "phase": "creating"}}
    )
    assert locks.acquire("team", STS, ME) == Marking(held_by=Holder("first", "uid-0", "team"))
    assert locks.annotations[ANNOTATION] == "first"


@pytest.mark.parametrize(
    "backups",
    [
        {},  # the holder was deleted (an operator crashed before it could unmark)
        {"first": {"uid": "uid-0", "phase": "available"}},  # it finished
        {"first": {"uid": "uid-0", "phase": "failed"}},
        {"first": {"uid": "uid-other", "phase": "creating"}},  # deleted and re-created under the same name
    ],
    ids=["deleted", "available", "failed", "recreated"],
)
def test_a_stale_mark_is_taken_over(backups: dict[str, dict[str, Any]]) -> None:
    locks = FakeLocks({ANNOTATION: "first", UID_ANNOTATION: "uid-0"}, backups=backups)
    assert locks.acquire("team", STS, ME) == Marking()
    assert held_by_us(locks)


def test_a_mark_of_this_backup_from_before_leases_is_ours_again() -> None:
    locks = FakeLocks({ANNOTATION: "nightly", UID_ANNOTATION: "uid-1"})
    assert locks.acquire("team", STS, ME) == Marking()
    assert held_by_us(locks)


def test_a_mark_of_this_backup_held_by_another_live_operator_process_is_not_ours() -> None:
    """The rolling update: the old Pod still runs its attempt at this backup (or cleans it up)."""
    theirs = {ANNOTATION: "nightly", UID_ANNOTATION: "uid-1", LEASE_ANNOTATION: lease(OLD_POD, "old-attempt")}
    seen_running = FakeLocks(dict(theirs), running={OLD_POD: True})  # the same host: its process is visible
    marking = seen_running.acquire("team", STS, ME)
    assert marking.held_by is not None
    assert (marking.held_by.process, marking.held_by.attempt) == (OLD_POD, "old-attempt")
    assert seen_running.annotations == theirs
    # Another Pod: not visible from here, so its lease decides.
    fresh = FakeLocks(dict(theirs))
    fresh.now = NOW + dt.timedelta(seconds=LEASE_SECONDS - 1)
    assert fresh.acquire("team", STS, ME).held_by is not None
    assert fresh.annotations == theirs
    for unmarked in (seen_running, fresh):
        unmarked.release("team", STS, ME)
        assert unmarked.annotations == theirs, "and releasing cannot remove the other process's mark"


def test_a_mark_of_this_backup_whose_process_is_gone_is_taken_over_and_its_attempt_reported() -> None:
    theirs = {ANNOTATION: "nightly", UID_ANNOTATION: "uid-1", LEASE_ANNOTATION: lease(OLD_POD, "old-attempt")}
    killed = FakeLocks(dict(theirs), running={OLD_POD: False})  # seen gone (SIGKILL, a restarted container)
    expired = FakeLocks(dict(theirs))  # not visible, and silent longer than its lease
    expired.now = NOW + dt.timedelta(seconds=LEASE_SECONDS + 1)
    for locks in (killed, expired):
        marking = locks.acquire("team", STS, ME)
        assert marking.held_by is None
        assert marking.replaced is not None
        assert (marking.replaced.process, marking.replaced.attempt) == (OLD_POD, "old-attempt")
        assert held_by_us(locks)


def test_an_earlier_attempt_of_this_process_is_replaced_and_reported() -> None:
    ours_before = {ANNOTATION: "nightly", UID_ANNOTATION: "uid-1", LEASE_ANNOTATION: lease(US, "earlier")}
    locks = FakeLocks(ours_before, running={US: True})
    marking = locks.acquire("team", STS, ME)
    assert marking.replaced is not None
    assert marking.replaced.attempt == "earlier"
    assert held_by_us(locks)
    assert locks.acquire("team", STS, ME) == Marking(), "marking again is a no-op"


def test_a_lease_is_renewed_only_while_the_mark_is_ours() -> None:
    locks = FakeLocks()
    locks.acquire("team", STS, ME)
    locks.now = NOW + dt.timedelta(seconds=30)
    assert locks.renew("team", STS, ME) is True
    assert json.loads(locks.annotations[LEASE_ANNOTATION])["renewTime"] == "2026-05-01T12:00:30.000000Z"
    locks.release("team", STS, ME)
    assert locks.renew("team", STS, ME) is False
    assert locks.annotations == {}, "a renewal never marks a workload again"


def test_a_concurrent_write_is_retried_and_a_workload_that_never_settles_is_reported() -> None:
    locks = FakeLocks()
    locks.conflicts = 2
    assert locks.acquire("team", STS, ME) == Marking()
    assert locks.annotations[ANNOTATION] == "nightly"
    restless = FakeLocks()
    restless.conflicts = 100
    with pytest.raises(LockConflict):
        restless.acquire("team", STS, ME)


def test_a_vanished_workload_needs_no_mark() -> None:
    locks = FakeLocks()
    locks.workload = None
    assert locks.acquire("team", STS, ME) == Marking()
    locks.release("team", STS, ME)
