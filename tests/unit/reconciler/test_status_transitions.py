"""The named status transitions: conditions by the Kubernetes convention, and no write when nothing changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from redisbackup.api.status import RedisBackupStatus
from redisbackup.domain import status as transitions
from redisbackup.domain.conditions import Notice, StatusChange, merge
from redisbackup.domain.faults import StorageFault
from redisbackup.domain.resolution import SourceNotFound

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(seconds=30)
T2 = T0 + dt.timedelta(seconds=60)


def apply(status: dict[str, Any], change: StatusChange) -> dict[str, Any]:
    merge(status, change.patch)
    RedisBackupStatus.model_validate(status)  # every state the transitions produce is a valid status
    return status


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def creating(status: dict[str, Any] | None = None, now: dt.datetime = T0) -> StatusChange:
    return transitions.mark_creating(
        status,
        snapshot_name="nightly",
        source_field="spec.cacheClusterId",
        source_id="Cache-1",
        storage="embedded",
        generation=1,
        now=now,
    )


def test_creating_sets_the_elasticache_fields_and_every_condition_with_its_generation() -> None:
    change = creating()
    status = apply({}, change)
    assert status["phase"] == "creating"
    assert (status["snapshotSource"], status["source"], status["cacheClusterId"]) == ("manual", "Cache-1", "Cache-1")
    assert "replicationGroupId" not in status
    found = conditions(status)
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Progressing", "Failed", "Reconciling"]
    assert (found["Ready"]["status"], found["Progressing"]["status"], found["Failed"]["status"]) == (
        "False",
        "True",
        "False",
    )
    assert {c["observedGeneration"] for c in status["conditions"]} == {1}
    assert {c["lastTransitionTime"] for c in status["conditions"]} == {"2026-01-02T03:04:05Z"}
    assert change.notice == Notice(
        "Normal",
        "Creating",
        'Taking snapshot "nightly" of spec.cacheClusterId "Cache-1" into storage location "embedded"',
    )


def test_the_same_transition_twice_costs_no_write_and_no_event() -> None:
    status = apply({}, creating())
    assert creating(status, now=T1).empty
    fault = SourceNotFound("no Pod or StatefulSet named cache-1")
    apply(status, transitions.mark_waiting(status, fault, generation=1, now=T1))
    assert transitions.mark_waiting(status, fault, generation=1, now=T2).empty


def test_waiting_keeps_lasttransitiontime_while_the_status_of_a_condition_does_not_flip() -> None:
    status = apply({}, creating())
    fault = SourceNotFound("no Pod or StatefulSet named cache-1")
    change = transitions.mark_waiting(status, fault, generation=1, now=T1)
    apply(status, change)
    progressing = conditions(status)["Progressing"]
    assert (progressing["reason"], progressing["lastTransitionTime"]) == (
        "CacheClusterNotFound",
        "2026-01-02T03:04:05Z",
    )
    assert change.notice is not None
    assert (change.notice.type, change.notice.reason) == (
        "Warning",
        "CacheClusterNotFound",
    )
    assert status["phase"] == "creating"


def test_progress_is_written_alone_and_turns_a_waiting_reason_back_to_creating() -> None:
    status = apply({}, creating())
    apply(status, transitions.mark_waiting(status, SourceNotFound("missing"), generation=1, now=T1))
    change = transitions.mark_progress(status, bytes_done=10, bytes_total=100, generation=1, now=T2)
    apply(status, change)
    assert status["progress"] == {"bytesDone": 10, "bytesTotal": 100}
    assert conditions(status)["Progressing"]["reason"] == "Creating"
    assert change.notice is None
    assert set(transitions.mark_progress(status, bytes_done=20, bytes_total=100, generation=1, now=T2).patch) == {
        "progress"
    }


def test_available_is_ready_true_terminal_and_drops_progress() -> None:
    status = apply({}, creating())
    apply(status, transitions.mark_progress(status, bytes_done=1, bytes_total=None, generation=1, now=T1))
    fields = {"numCacheNodes": 1, "size": "1.5 KiB", "totalBytes": 1536, "location": "file:///x/ns/nightly/uid/"}
    change = transitions.mark_available(status, fields, generation=1, now=T2)
    apply(status, change)
    assert status["phase"] == "available"
    assert "progress" not in status
    assert transitions.is_terminal(status)
    found = conditions(status)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("True", "Available")
    assert found["Ready"]["lastTransitionTime"] == "2026-01-02T03:05:05Z"
    assert found["Failed"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"  # was False, is False
    assert change.notice is not None
    assert change.notice.message == "Snapshot is available: 1 node, 1.5 KiB, at file:///x/ns/nightly/uid/"


def test_failed_carries_the_fault_code_as_the_reason_and_its_message() -> None:
    status = apply({}, creating())
    fault = SourceNotFound("gave up")
    apply(status, transitions.mark_failed(status, fault, generation=1, now=T1))
    found = conditions(status)
    assert status["phase"] == "failed"
    assert transitions.is_terminal(status)
    assert (found["Failed"]["status"], found["Failed"]["reason"], found["Failed"]["message"]) == (
        "True",
        "CacheClusterNotFound",
        "gave up",
    )
    assert found["Ready"]["reason"] == found["Progressing"]["reason"] == "CacheClusterNotFound"


def test_a_blocked_deletion_says_why_and_how_to_give_up_on_the_data() -> None:
    status = apply({}, creating())
    apply(
        status, transitions.mark_deleting(status, deletion_policy="Delete", location="s3://b/x/", generation=1, now=T1)
    )
    assert status["phase"] == "deleting"
    change = transitions.mark_deletion_blocked(status, StorageFault("cannot reach S3"), generation=1, now=T2)
    apply(status, change)
    blocked = conditions(status)["DeletionBlocked"]
    assert (blocked["status"], blocked["reason"]) == ("True", "StorageUnavailable")
    assert blocked["message"].startswith("cannot reach S3. The stored snapshot must be deleted")
    assert 'annotate the RedisBackup redisbackup.io/force-delete="true"' in blocked["message"]
    assert change.notice is not None
    assert change.notice.reason == "DeletionBlocked"


def test_the_last_word_on_a_deleted_backup_depends_on_its_policy() -> None:
    assert transitions.deletion_notice("Delete", removed=2, location="s3://b/p/", forced=False) == Notice(
        "Normal", "Deleted", "deleted 2 stored object(s) of the snapshot at s3://b/p/"
    )
    assert transitions.deletion_notice("Retain", removed=0, location=None, forced=False).reason == "Retained"
    forced = transitions.deletion_notice("Delete", removed=0, location="s3://b/p/", forced=True)
    assert (forced.type, forced.reason) == ("Warning", "ForceDeleted")


def test_a_field_a_transition_leaves_unknown_is_left_out_not_written_as_null() -> None:
    # What a writer applies is merged the same way: a null would be refused by server-side apply, or kept as null.
    status = apply({}, creating())
    apply(status, transitions.mark_progress(status, bytes_done=10, bytes_total=None, generation=1, now=T1))
    assert status["progress"] == {"bytesDone": 10}


def test_a_wait_records_when_it_began_keeps_it_while_it_lasts_and_another_kind_of_wait_replaces_it() -> None:
    status = apply({}, creating())
    missing = SourceNotFound("no Pod named cache-1")
    waiting = (transitions.SOURCE_MISSING_SINCE, T0)
    apply(status, transitions.mark_waiting(status, missing, generation=1, now=T0, waiting=waiting))
    assert (status["sourceMissingSince"], transitions.waiting_since(status, "sourceMissingSince")) == (
        "2026-01-02T03:04:05Z",
        T0,
    )
    again = transitions.mark_waiting(status, missing, generation=1, now=T1, waiting=waiting)
    assert again.empty, "the same wait, the same fault: nothing to write"
    busy = StorageFault("loading")  # any fault of another wait: the source's is over
    apply(status, transitions.mark_waiting(status, busy, generation=1, now=T1, waiting=(transitions.BUSY_SINCE, T1)))
    assert "sourceMissingSince" not in status
    assert status["busySince"] == "2026-01-02T03:04:35Z"
    apply(status, transitions.mark_waiting(status, busy, generation=1, now=T2))  # no wait at all
    assert "busySince" not in status


def test_a_source_found_again_clears_its_wait_and_says_so_in_progressing() -> None:
    status = apply({}, creating())
    missing = SourceNotFound("no Pod named cache-1")
    waiting = (transitions.SOURCE_MISSING_SINCE, T0)
    apply(status, transitions.mark_waiting(status, missing, generation=1, now=T0, waiting=waiting))
    found = transitions.mark_source_found(status, generation=1, now=T1)
    assert found.notice is None
    apply(status, found)
    assert "sourceMissingSince" not in status
    assert conditions(status)["Progressing"]["reason"] == "Creating"
    assert transitions.mark_source_found(status, generation=1, now=T2).empty, "found while not waiting: no write"
