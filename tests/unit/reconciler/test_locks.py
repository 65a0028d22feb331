"""The snapshotting annotation: taken with a precondition, given back only by its holder, taken over when stale."""

from __future__ import annotations

from typing import Any

import pytest

from redisbackup.domain.pods import Workload
from redisbackup.k8s.faults import UpdateConflict
from redisbackup.k8s.locks import ANNOTATION, UID_ANNOTATION, Holder, LockConflict, SnapshotLocks

STS = Workload("StatefulSet", "cache")
ME = Holder("nightly", "uid-1", "team")


class FakeLocks(SnapshotLocks):
    """The workload and the RedisBackups as plain dicts; patches check the resourceVersion like the apiserver."""

    def __init__(self, annotations: dict[str, str] | None = None, backups: dict[str, dict[str, Any]] | None = None):
        super().__init__()
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


def test_a_free_workload_is_marked_and_released_by_its_holder_only() -> None:
    locks = FakeLocks()
    assert locks.acquire("team", STS, ME) is None
    assert locks.annotations == {ANNOTATION: "nightly", UID_ANNOTATION: "uid-1"}
    locks.release("team", STS, Holder("other", "uid-9", "team"))
    assert locks.annotations[ANNOTATION] == "nightly", "only the holder removes the mark"
    locks.release("team", STS, ME)
    assert locks.annotations == {}


def test_a_live_holder_keeps_the_mark_and_is_named() -> None:
    locks = FakeLocks(
        {ANNOTATION: "first", UID_ANNOTATION: "uid-0"}, backups={"first": {"uid": "uid-0", "phase": "creating"}}
    )
    assert locks.acquire("team", STS, ME) == Holder("first", "uid-0", "team")
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
    assert locks.acquire("team", STS, ME) is None
    assert locks.annotations == {ANNOTATION: "nightly", UID_ANNOTATION: "uid-1"}


def test_our_own_mark_after_a_restart_is_ours_again() -> None:
    locks = FakeLocks({ANNOTATION: "nightly", UID_ANNOTATION: "uid-1"})
    assert locks.acquire("team", STS, ME) is None


def test_a_concurrent_write_is_retried_and_a_workload_that_never_settles_is_reported() -> None:
    locks = FakeLocks()
    locks.conflicts = 2
    assert locks.acquire("team", STS, ME) is None
    assert locks.annotations[ANNOTATION] == "nightly"
    restless = FakeLocks()
    restless.conflicts = 100
    with pytest.raises(LockConflict):
        restless.acquire("team", STS, ME)


def test_a_vanished_workload_needs_no_mark() -> None:
    locks = FakeLocks()
    locks.workload = None
    assert locks.acquire("team", STS, ME) is None
    locks.release("team", STS, ME)
