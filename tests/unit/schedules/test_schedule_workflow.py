"""The schedule workflow, pass by pass, on a clock in the test's hand: runs on time, skips, missed runs, restarts,
suspend, retention, and what status and the metric say."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from redisbackup.domain.automated import SCHEDULED_AT_ANNOTATION, automated_snapshot_name, belongs_to
from tests.unit.schedules.fakes import T0, FakeScheduleKubernetes, ManualClock, reconciler, schedule, stamp


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in status["conditions"] if c["type"] == kind]
    return found


def metric(metrics: Any, name: str) -> float | None:
    value: float | None = metrics.registry.get_sample_value(name, {"namespace": "team", "schedule": "nightly"})
    return value


async def test_nothing_runs_before_the_first_slot_after_creation_and_status_says_when_it_will() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0 + dt.timedelta(seconds=30))
    schedules, metrics = reconciler(kube, clock)
    body = schedule(schedule="*/5 * * * *", keepLast=2)
    sleep = await schedules.reconcile(body)
    assert kube.created == []
    assert sleep == 270.0, "it sleeps until the next slot, 12:05"
    assert kube.status["nextScheduleTime"] == "2026-05-01T12:05:00Z"
    assert kube.status["schedule"] == "*/5 * * * * UTC"
    assert kube.status["source"] == "cache-0"
    assert kube.status["kept"] == 0
    ready = condition(kube.status, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "Scheduled", 1)
    assert condition(kube.status, "Stalled")["status"] == "False"
    assert metric(metrics, "redisbackup_schedule_interval_seconds") == 300
    assert metric(metrics, "redisbackup_schedule_seconds_since_last_success") == 30, "since its creation"


async def test_a_slot_creates_one_owned_automated_backup_named_from_the_source_and_the_slot() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="*/5 * * * *", template={"storage": "archive", "deletionPolicy": "Retain"})
    clock.advance(minutes=5, seconds=2)
    await schedules.reconcile(body)
    name = automated_snapshot_name("cache-0", "sched-uid-1", T0 + dt.timedelta(minutes=5))
    assert kube.created == [name]
    backup = kube.backups[name]
    assert backup["spec"] == {
        "snapshotName": name,
        "cacheClusterId": "cache-0",
        "storage": "archive",
        "deletionPolicy": "Retain",
    }
    assert backup["metadata"]["annotations"][SCHEDULED_AT_ANNOTATION] == "2026-05-01T12:05:00Z"
    assert belongs_to(backup, "nightly", "sched-uid-1")
    (owner,) = backup["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"], owner["blockOwnerDeletion"]) == (
        "RedisBackupSchedule",
        "sched-uid-1",
        True,
        True,
    )
    assert kube.status["lastScheduleTime"] == "2026-05-01T12:05:00Z"
    assert kube.status["active"] == name
    assert "Scheduled" in kube.reasons()

    # Looking again in the same slot changes nothing: no second backup.
    clock.advance(seconds=20)
    await schedules.reconcile(body)
    assert kube.created == [name]


async def test_a_run_whose_previous_backup_is_still_creating_is_skipped_with_an_event() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="* * * * *")
    clock.advance(minutes=1)
    await schedules.reconcile(body)
    (first,) = kube.created
    kube.start(first)
    clock.advance(minutes=1)
    await schedules.reconcile(body)
    assert kube.created == [first], "no second backup while the first one is being taken"
    assert kube.status["lastSkippedTime"] == "2026-05-01T12:02:00Z"
    skipped = [e for e in kube.events if e.reason == "SkippedRun"]
    assert len(skipped) == 1
    assert first in skipped[0].message
    assert skipped[0].type == "Warning"
    kube.finish(first)
    await schedules.reconcile(body)  # woken by the backup's phase change: the skipped slot is not made up
    assert kube.created == [first]
    clock.advance(minutes=1)
    await schedules.reconcile(body)
    assert len(kube.created) == 2


async def test_after_an_outage_only_the_newest_missed_slot_runs_once_and_only_within_the_deadline() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="*/10 * * * *", startingDeadlineSeconds=120)
    # The operator was down from 12:00 to 12:41:30: slots 12:10 … 12:40 were missed; 12:40 is 90s late.
    clock.advance(minutes=41, seconds=30)
    await schedules.reconcile(body)
    assert kube.created == [automated_snapshot_name("cache-0", "sched-uid-1", T0 + dt.timedelta(minutes=40))]
    (scheduled,) = [e for e in kube.events if e.reason == "Scheduled"]
    assert "90s late" in scheduled.message

    # A second outage ends 5 minutes after the 12:50 slot: past the 120 s deadline, nothing runs, and it says so.
    clock.advance(minutes=13, seconds=30)
    kube.finish(kube.created[0])
    await schedules.reconcile(body)
    assert len(kube.created) == 1, "no burst, and nothing past the deadline"
    (missed,) = [e for e in kube.events if e.reason == "MissedSchedule"]
    assert "12:50:00Z" in missed.message
    assert "startingDeadlineSeconds 120" in missed.message
    assert kube.status["lastSkippedTime"] == "2026-05-01T12:50:00Z"
    assert kube.status["nextScheduleTime"] == "2026-05-01T13:00:00Z"


async def test_a_restarted_operator_finds_the_backup_it_created_for_the_slot_instead_of_making_another() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0 + dt.timedelta(hours=1, seconds=1))
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="@hourly")
    await schedules.reconcile(body)
    (created,) = kube.created
    # It crashed before status recorded the run: a new operator sees the slot as due again.
    kube.status.clear()
    again, _ = reconciler(kube, clock)
    await again.reconcile(schedule(schedule="@hourly"))
    assert kube.created == [created], "create-or-get: the slot's name is taken by our own backup"
    assert kube.status["lastScheduleTime"] == "2026-05-01T13:00:00Z"
    assert kube.status["active"] == created


async def test_a_backup_of_that_name_that_is_not_ours_is_left_alone_and_the_slot_skipped() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0 + dt.timedelta(hours=1, seconds=1))
    schedules, _ = reconciler(kube, clock)
    name = automated_snapshot_name("cache-0", "sched-uid-1", T0 + dt.timedelta(hours=1))
    kube.backups[name] = {"metadata": {"name": name, "labels": {}}, "spec": {"snapshotName": name}}
    await schedules.reconcile(schedule(schedule="@hourly"))
    assert kube.created == []
    assert "SnapshotAlreadyExistsFault" in kube.reasons()
    assert kube.backups[name]["metadata"]["labels"] == {}


async def test_suspend_stops_new_runs_and_slots_passed_while_suspended_are_not_made_up() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, metrics = reconciler(kube, clock)
    clock.advance(minutes=1, seconds=5)
    sleep = await schedules.reconcile(schedule(schedule="* * * * *", suspend=True))
    assert kube.created == []
    assert sleep == 55.0, "it still wakes at each slot, to record it as skipped"
    assert kube.status["lastSkippedTime"] == "2026-05-01T12:01:00Z"
    assert "nextScheduleTime" not in kube.status
    assert condition(kube.status, "Ready")["reason"] == "Suspended"
    assert metric(metrics, "redisbackup_schedule_seconds_since_last_success") is None, "no alert while suspended"
    assert not [e for e in kube.events if e.type == "Warning"]
    resumed = schedule(schedule="* * * * *", generation=2)
    clock.advance(seconds=10)
    await schedules.reconcile(resumed)
    assert kube.created == [], "the 12:01 slot passed while suspended"
    clock.advance(minutes=1)
    await schedules.reconcile(resumed)
    assert len(kube.created) == 1
    assert condition(kube.status, "Ready")["observedGeneration"] == 2


async def test_retention_by_count_keeps_the_newest_available_and_never_touches_manual_or_creating_ones() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, metrics = reconciler(kube, clock)
    body = schedule(schedule="@hourly", keepLast=2)
    for _ in range(4):
        clock.advance(hours=1)
        await schedules.reconcile(body)
        kube.finish(kube.created[-1])
    manual = {"metadata": {"name": "keep-me", "labels": {"redisbackup.io/schedule": "nightly"}}, "status": {}}
    kube.backups["keep-me"] = manual  # labelled by hand, but not owned by the schedule
    await schedules.reconcile(body)
    assert kube.deleted == kube.created[:2]
    assert sorted(kube.backups) == sorted([*kube.created[2:], "keep-me"])
    assert kube.status["kept"] == 2
    assert kube.status["lastSuccessfulTime"] == "2026-05-01T16:00:00Z"
    assert [e.reason for e in kube.events].count("Pruned") == 2
    assert metric(metrics, "redisbackup_schedule_seconds_since_last_success") == 0
    # A run that is being taken is never pruned, even when keepLast would count past it.
    clock.advance(hours=1)
    await schedules.reconcile(body)
    kube.start(kube.created[-1])
    await schedules.reconcile(body)
    assert kube.created[-1] in kube.backups


async def test_retention_by_age_deletes_backups_older_than_the_limit_but_never_the_newest_available() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="0 */6 * * *", snapshotRetentionLimit=1)
    for _ in range(6):  # 36 hours of runs, every 6 hours
        clock.advance(hours=6)
        await schedules.reconcile(body)
        kube.finish(kube.created[-1])
    await schedules.reconcile(body)
    slots = {name: kube.backups[name]["metadata"]["annotations"][SCHEDULED_AT_ANNOTATION] for name in kube.backups}
    # Now is the third day, 00:00: the first run (the first day, 18:00) is more than a day old, the others are not.
    assert sorted(slots.values()) == [stamp(T0 + dt.timedelta(hours=h)) for h in (12, 18, 24, 30, 36)]
    assert kube.deleted == kube.created[:1]
    # Every later run fails: the last good backup stays, however old it gets.
    for _ in range(8):
        clock.advance(hours=6)
        await schedules.reconcile(body)
        kube.finish(kube.created[-1], "failed")
    await schedules.reconcile(body)
    available = [b for b in kube.backups.values() if b["status"]["phase"] == "available"]
    assert [b["metadata"]["annotations"][SCHEDULED_AT_ANNOTATION] for b in available] == [
        stamp(T0 + dt.timedelta(hours=36))
    ]
    ready = condition(kube.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ChecksumMismatch")
    assert "BackupFailed" in kube.reasons()


async def test_retention_limit_zero_turns_automatic_backups_off_as_in_elasticache() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    clock.advance(hours=2)
    await schedules.reconcile(schedule(schedule="@hourly", snapshotRetentionLimit=0))
    assert kube.created == []
    assert condition(kube.status, "Ready")["reason"] == "AutomaticBackupsOff"


async def test_an_invalid_spec_that_slipped_past_the_webhook_is_stalled_with_every_problem_named() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    await schedules.reconcile(schedule(schedule="0 25 * * *", timeZone="Mars/Olympus"))
    stalled = condition(kube.status, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidParameterValue")
    assert "bad hour field" in stalled["message"]
    assert "Mars/Olympus" in stalled["message"]
    assert condition(kube.status, "Ready")["status"] == "False"
    assert kube.created == []


async def test_a_snapshot_window_runs_once_a_day_at_a_start_inside_the_window() -> None:
    kube, clock = FakeScheduleKubernetes(), ManualClock(T0)
    schedules, _ = reconciler(kube, clock)
    body = schedule(snapshotWindow="13:00-14:00")
    await schedules.reconcile(body)
    start = dt.datetime.fromisoformat(kube.status["nextScheduleTime"].replace("Z", "+00:00"))
    assert T0.replace(hour=13) <= start < T0.replace(hour=14)
    assert f"starts at {start:%H:%M}" in kube.status["schedule"]
    clock.moment = start + dt.timedelta(seconds=5)
    await schedules.reconcile(body)
    assert len(kube.created) == 1
    await schedules.reconcile(copy.deepcopy(body))
    assert kube.status["nextScheduleTime"] == stamp(start + dt.timedelta(days=1))


async def test_on_a_faster_clock_a_new_schedule_reads_its_creation_on_that_clock_and_runs_nothing_before_it() -> None:
    # The end-to-end tests' clock runs 60 times as fast: the creationTimestamp the apiserver wrote (wall clock)
    # must be read on it, else a schedule created a second ago looks an hour old and runs a slot at once.
    since = T0 - dt.timedelta(minutes=30)

    class Faster(ManualClock):
        def at(self, instant: dt.datetime) -> dt.datetime:
            return since + (instant - since) * 60

    kube, clock = FakeScheduleKubernetes(), Faster(T0 + dt.timedelta(minutes=20))
    schedules, _ = reconciler(kube, clock)
    body = schedule(schedule="@hourly", keepLast=2, created=since + dt.timedelta(seconds=50))
    await schedules.reconcile(body)
    assert kube.created == [], "12:00 came before the schedule existed on its clock (12:20)"
    clock.advance(minutes=40, seconds=1)
    await schedules.reconcile(body)
    assert kube.created == [automated_snapshot_name("cache-0", "sched-uid-1", T0 + dt.timedelta(hours=1))]
