"""RedisBackupSchedules on the real control plane (garbage collector included), real redis-server and S3: runs on
time, retention by count and by age, suspend, missed runs, restarts, and the schedule's deletion.

Most tests run the operator's schedules on a faster clock (schedule_support.Timeline) so that hours of schedule
pass in seconds; one runs an every-minute cron on the wall clock.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack.elasticache_api import Key, RunningApi
from devstack.fixtures.operator import s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import Topology
from tests.e2e.elasticache_api_support import aws
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, Scene, StartScene, condition, directory_of
from tests.e2e.restore_support import redisbackup
from tests.e2e.schedule_support import (
    SCHEDULED_AT,
    Timeline,
    apply_schedule,
    automated,
    event_messages,
    get_schedule,
    phases,
    schedule_events,
    slots,
    suspend,
    wait_until,
)

pytestmark = pytest.mark.e2e


def describe(scene: Scene, *flags: str) -> list[dict[str, Any]]:
    kubeconfig = str(scene.kube.kubeconfig)
    result = redisbackup("describe-snapshots", "-n", scene.namespace, *flags, env={"KUBECONFIG": kubeconfig})
    assert result.returncode == 0, result.stderr
    snapshots: list[dict[str, Any]] = json.loads(result.stdout)["Snapshots"]
    return snapshots


def test_a_schedule_keeps_the_newest_backups_shows_them_as_automated_and_takes_them_and_their_data_along_when_deleted(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    timeline = Timeline.starting_now(rate=60)  # "*/5 * * * *" runs every 5 s
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(redis_standalone, keys=50)
    manual = scene.backup("manual", cacheClusterId="cache-001")
    apply_schedule(scene, "every-five", cacheClusterId="cache-001", schedule="*/5 * * * *", keepLast=2)

    def runs() -> int:
        return len(event_messages(scene, "every-five", "Scheduled"))

    wait_until(lambda: runs() >= 4, what="ran four times", timeout=120, operator=operator)
    schedule = get_schedule(scene, "every-five")
    assert schedule is not None
    assert (condition(schedule, "Ready")["status"], condition(schedule, "Ready")["observedGeneration"]) == ("True", 1)
    assert condition(schedule, "Stalled")["status"] == "False"
    assert metric_of(operator.metrics(), "redisbackup_schedule_interval_seconds", scene.namespace, "every-five") == 300

    # Suspended, so that no run or pruning changes what is compared below; retention still settles it.
    suspend(scene, "every-five")
    backups = wait_until(
        lambda: (
            (s := get_schedule(scene, "every-five"))
            and condition(s, "Ready")["reason"] == "Suspended"
            and s["status"]["kept"] == 2
            and phases(b := automated(scene, "every-five")) == ["available", "available"]
            and b
        ),
        what="kept the newest two available backups, suspended",
        operator=operator,
    )
    taken = slots(backups)
    assert taken[0] < taken[1]
    assert all(slot.minute % 5 == 0 and slot.second == 0 for slot in taken), "exactly on the slots"

    # Retention says what it deleted in Events, posted in the background after the deletions: wait for them.
    def pruned_twice() -> list[tuple[str, str]]:
        found = schedule_events(scene, "every-five")
        return found if [reason for reason, _ in found].count("Pruned") >= 2 else []

    events = wait_until(
        pruned_twice,
        what="said what retention deleted (two Pruned Events)",
        timeout=30,
        operator=operator,
    )
    # On a busy machine a run can find the previous one still being taken: it is skipped (one at a time), and
    # says so; no slot has two backups.
    skipped = [m for r, m in events if r == "SkippedRun"]
    assert taken[1] - taken[0] <= dt.timedelta(minutes=5) * (1 + len(skipped))
    for backup, slot in zip(backups, taken, strict=True):
        assert backup["status"]["snapshotSource"] == "automated"
        assert backup["metadata"]["name"] == backup["spec"]["snapshotName"]
        assert backup["metadata"]["name"].endswith(slot.strftime("-%Y%m%d%H%M"))
    schedule = get_schedule(scene, "every-five")
    assert schedule is not None
    assert schedule["status"]["lastSuccessfulTime"] == backups[-1]["metadata"]["annotations"][SCHEDULED_AT]
    assert condition(schedule, "Ready")["observedGeneration"] == 2
    assert manual["metadata"]["name"] in {b["metadata"]["name"] for b in _all_backups(scene)}

    # The CLI twin: --snapshot-source system shows the automated ones, user the manual one, as ElastiCache.
    system = describe(scene, "--snapshot-source", "system")
    assert {s["SnapshotSource"] for s in system} == {"automated"}
    assert sorted(s["SnapshotName"] for s in system) == sorted(b["spec"]["snapshotName"] for b in backups)
    user = describe(scene, "--snapshot-source", "user")
    assert [(s["SnapshotName"], s["SnapshotSource"], s["SnapshotRetentionLimit"]) for s in user] == [
        ("manual", "manual", 0)
    ]

    # kubectl's wide table: TYPE (ElastiCache's SnapshotSource) before LOCATION; SIZE has a space ("1.2 KiB").
    rows = [row.split() for row in scene.kubectl("get", "rb", "-o", "wide").stdout.strip().split("\n")]
    assert rows[0][-2:] == ["TYPE", "LOCATION"]
    assert {row[0]: row[-2] for row in rows[1:]} == {
        "manual": "manual",
        **{b["metadata"]["name"]: "automated" for b in backups},
    }

    # Deleting the schedule deletes its automated backups (the garbage collector) and, through their finalizer,
    # their stored data; the manual backup stays.
    kept_directories = [directory_of(b) for b in automated(scene, "every-five")]
    scene.kubectl("delete", "rbs", "every-five", "--timeout=60s")
    wait_until(lambda: not automated(scene, "every-five"), what="removed the automated backups")
    for directory in kept_directories:
        assert s3.keys(directory) == [], f"{directory} was not deleted"
    assert len(s3.keys(directory_of(manual))) == 2
    assert [b["metadata"]["name"] for b in _all_backups(scene)] == ["manual"]


def _all_backups(scene: Scene) -> list[dict[str, Any]]:
    listing: Any = client.CustomObjectsApi(scene.api).list_namespaced_custom_object(
        GROUP, VERSION, scene.namespace, PLURAL
    )
    return list(listing["items"])


def metric_of(metrics: dict[str, float], name: str, namespace: str, schedule: str) -> float | None:
    return metrics.get(f'{name}{{namespace="{namespace}",schedule="{schedule}"}}')


def test_retention_by_age_and_suspend(start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket) -> None:
    timeline = Timeline.starting_now(rate=7200)  # "0 */6 * * *" runs every 3 s; a day passes in 12 s
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(redis_standalone)
    apply_schedule(scene, "daily-ish", cacheClusterId="cache-001", schedule="0 */6 * * *", snapshotRetentionLimit=1)

    def pruned_by_age() -> list[str]:
        events = schedule_events(scene, "daily-ish")
        return [m for reason, m in events if reason == "Pruned" and "snapshotRetentionLimit" in m]

    wait_until(lambda: len(pruned_by_age()) >= 2, what="pruned two backups by age", timeout=120, operator=operator)
    now = timeline.now()
    remaining = automated(scene, "daily-ish")
    finished = [
        b
        for b, slot in zip(remaining, slots(remaining), strict=True)
        if (b.get("status") or {}).get("phase") == "available"
    ]
    assert finished
    # (12 hours of slack: on a busy machine a pass can lag a few seconds, and 3 s are 6 hours here.)
    assert all(now - slot < dt.timedelta(days=1, hours=12) for slot in slots(finished)), "none kept past the limit"

    # Suspended: no new runs (and nothing made up later); retention goes on.
    suspend(scene, "daily-ish")
    schedule = wait_until(
        lambda: (
            (s := get_schedule(scene, "daily-ish"))
            and condition(s, "Ready")["reason"] == "Suspended"
            and condition(s, "Ready")["observedGeneration"] == 2
            and s
        ),
        what="reported Suspended for generation 2",
        operator=operator,
    )
    assert "nextScheduleTime" not in schedule["status"]
    suspended_at = timeline.now()
    before = {b["metadata"]["name"] for b in automated(scene, "daily-ish")}
    wait_until(lambda: timeline.now() - suspended_at > dt.timedelta(hours=30), what="let 30 hours pass", timeout=30)
    assert {b["metadata"]["name"] for b in automated(scene, "daily-ish")} <= before, "no new runs"
    suspend(scene, "daily-ish", False)
    resumed_at = timeline.now()
    wait_until(
        lambda: any(s > resumed_at for s in slots(automated(scene, "daily-ish"))),
        what="ran again after resuming",
        operator=operator,
    )
    new = [s for s in slots(automated(scene, "daily-ish")) if s > suspended_at]
    assert all(s > resumed_at - dt.timedelta(hours=6) for s in new), "the slots passed while suspended were not made up"


def test_a_restart_never_duplicates_a_slot_and_an_outage_makes_up_only_the_newest_missed_run_within_its_deadline(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    # At rate 60 from a whole minute: "@hourly" runs at each wall-clock minute, "*/10 * * * *" every 10 s.
    timeline = Timeline.starting_now(rate=60)
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(redis_standalone)
    apply_schedule(scene, "hourly", cacheClusterId="cache-001", schedule="@hourly", keepLast=5)
    apply_schedule(scene, "patient", cacheClusterId="cache-001", schedule="*/10 * * * *", keepLast=9)
    apply_schedule(
        scene, "strict", cacheClusterId="cache-001", schedule="*/10 * * * *", keepLast=9,
        startingDeadlineSeconds=30,
    )  # fmt: skip

    # The crash window: the slot's backup is created, and the operator dies before status records the run.
    (created,) = wait_until(
        lambda: automated(scene, "hourly"), what="ran the hourly schedule", timeout=90, operator=operator
    )
    operator.kill()
    scene.kubectl(
        "patch", "rbs", "hourly", "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"lastScheduleTime": None, "lastSkippedTime": None, "active": None}}),
    )  # fmt: skip
    operator.restart()
    # Its status is what the restarted operator writes back (the Event of the first pass may not have been posted
    # before the kill, so Events are not counted).
    wait_until(
        lambda: ((get_schedule(scene, "hourly") or {}).get("status") or {}).get("lastScheduleTime"),
        what="took the run up again after the restart",
        operator=operator,
    )
    (again,) = [b for b in automated(scene, "hourly") if slots([b]) == slots([created])]
    assert again["metadata"]["uid"] == created["metadata"]["uid"], "the same backup: create-or-get, no duplicate"
    schedule = get_schedule(scene, "hourly")
    assert schedule is not None
    assert schedule["status"]["lastScheduleTime"] == created["metadata"]["annotations"][SCHEDULED_AT]

    # An outage of 35 minutes (three slots of the 10-minute schedules) that ends a minute after a slot.
    for name in ("patient", "strict"):
        wait_until(
            lambda n=name: "available" in phases(automated(scene, n)),  # type: ignore[misc]
            what=f"{name} ran",
            operator=operator,
        )
    # Stopped with nothing in flight, well before the next slot: a backup still being taken when the operator comes
    # back would (rightly) make it skip the made-up run as "the previous one is still being taken".
    wait_until(
        lambda: (
            timeline.seconds_to_next(dt.timedelta(minutes=10)) > 3
            and all(p in ("available", "failed") for n in ("patient", "strict") for p in phases(automated(scene, n)))
        ),
        what="be between runs",
        operator=operator,
    )
    operator.stop()
    last = {name: max(slots(automated(scene, name))) for name in ("patient", "strict")}
    stopped = timeline.now()
    wait_until(
        lambda: (now := timeline.now()) - stopped > dt.timedelta(minutes=35) and now.minute % 10 == 1,
        what="be down for 35 minutes",
        timeout=60,
    )
    restarting = timeline.now()
    operator.restart()
    wait_until(
        lambda: any(s > last["patient"] for s in slots(automated(scene, "patient"))),
        what="made up a missed run",
        operator=operator,
    )
    # Made up: the newest slot missed when the operator looked again (not the oldest, not all of them), and
    # from then on one run per slot.
    after = sorted(s for s in slots(automated(scene, "patient")) if s > last["patient"])
    assert after[0] >= last["patient"] + dt.timedelta(minutes=30), f"not the newest missed slot: {after}"
    assert all(b - a == dt.timedelta(minutes=10) for a, b in itertools.pairwise(after)), f"a burst: {after}"
    # The backup is created before the schedule's status is written and its Event posted (in the background): wait
    # for the Event, then check what it says.
    made_up = f"for the run due at {after[0]:%Y-%m-%dT%H:%M:%SZ}"
    (told,) = wait_until(
        lambda: [m for m in event_messages(scene, "patient", "Scheduled") if made_up in m],
        what=f"posted the Scheduled Event of the run due at {after[0]:%H:%M}",
        timeout=30,
        operator=operator,
    )
    assert f"{made_up}, " in told, told
    assert "late (a run missed while the operator was away)" in told, told
    missed = wait_until(
        # At rate 60 the deadline is half a second of wall clock: a run the operator woke late for during the
        # test may be missed too; the outage's is the one that passed over earlier slots.
        lambda: [
            m for m in event_messages(scene, "strict", "MissedSchedule") if "were missed too, and are not made up" in m
        ],
        what="reported the missed run",
        operator=operator,
    )
    assert "startingDeadlineSeconds 30" in missed[0]
    assert not [s for s in slots(automated(scene, "strict")) if last["strict"] < s <= restarting]


def test_an_every_minute_schedule_runs_on_the_wall_clock_at_the_minute(
    start_scene: StartScene, redis_standalone: Topology
) -> None:
    scene = start_scene()
    operator = scene.operator
    scene.pods(redis_standalone)
    apply_schedule(scene, "minutely", cacheClusterId="cache-001", schedule="* * * * *", keepLast=2)
    schedule = wait_until(
        lambda: (s := get_schedule(scene, "minutely")) and s.get("status", {}).get("nextScheduleTime") and s,
        what="said when it runs",
        operator=operator,
    )
    due = dt.datetime.fromisoformat(schedule["status"]["nextScheduleTime"].replace("Z", "+00:00"))
    (backup,) = wait_until(lambda: automated(scene, "minutely"), what="ran", timeout=90, operator=operator)
    created = dt.datetime.fromisoformat(backup["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    assert slots([backup]) == [due]
    assert dt.timedelta(0) <= created - due < dt.timedelta(seconds=15), "created at its slot, not before, not late"
    scene.wait_phase(backup["metadata"]["name"], "available")


@pytest.mark.slow
def test_the_every_minute_sample_keeps_the_newest_two_automated_backups_on_the_wall_clock_and_goes_with_them(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    """manifests/samples/schedule-every-minute.yaml as make demo's user applies it, on the demo's workload name:
    three runs, a minute apart (about three minutes: marked slow)."""
    scene = start_scene(storage=s3_storage(s3))
    operator = scene.operator
    scene.statefulset(redis_standalone, "mynonclusteredredis", keys=100)
    sample = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "schedule-every-minute.yaml"
    scene.kubectl("apply", "-f", str(sample))

    def runs() -> int:
        return len(event_messages(scene, "every-minute", "Scheduled"))

    wait_until(lambda: runs() >= 3, what="ran three times", timeout=240, operator=operator)
    backups = wait_until(
        lambda: phases(b := automated(scene, "every-minute")) == ["available", "available"] and b,
        what="kept the newest two",
        timeout=50,  # a minute has room for the third run to finish and the oldest to go, before the fourth
        operator=operator,
    )
    taken = slots(backups)
    assert taken[1] - taken[0] == dt.timedelta(minutes=1)
    table = scene.kubectl("get", "rbs").stdout.split("\n")
    assert table[0].split() == ["NAME", "SOURCE", "SCHEDULE", "LAST", "NEXT", "KEPT"]
    assert table[1].split()[:2] == ["every-minute", "myNonClusteredRedis"]
    directories = [directory_of(b) for b in backups]
    scene.kubectl("delete", "-f", str(sample), "--timeout=60s")
    wait_until(lambda: not automated(scene, "every-minute"), what="removed its backups", timeout=60)
    assert all(s3.keys(directory) == [] for directory in directories)


def test_the_elasticache_api_shows_automated_snapshots_as_such_and_a_copy_of_one_outlives_the_schedule(
    start_scene: StartScene,
    elasticache_api: RunningApi,
    api_user: Key,
    redis_standalone: Topology,
    s3: S3Bucket,
) -> None:
    """The real `aws elasticache` CLI against the API: describe-snapshots --snapshot-source system | user, an
    automated snapshot with its schedule's SnapshotRetentionLimit, and copy-snapshot, which keeps one as a manual
    snapshot when the schedule (and with it every automated one) is deleted, as in ElastiCache."""
    timeline = Timeline.starting_now(rate=60)  # "*/5 * * * *" runs every 5 s
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(redis_standalone, keys=50)
    scene.backup("by-hand", cacheClusterId="cache-001")
    apply_schedule(
        scene, "often", cacheClusterId="cache-001", schedule="*/5 * * * *", keepLast=3,
        snapshotRetentionLimit=7,
    )  # fmt: skip
    wait_until(
        lambda: "available" in phases(automated(scene, "often")),
        what="took an automated backup",
        timeout=90,
        operator=operator,
    )
    suspend(scene, "often")

    code, system, stderr = aws(elasticache_api, api_user, "describe-snapshots", "--snapshot-source", "system")
    assert code == 0, stderr
    mine = {b["spec"]["snapshotName"] for b in automated(scene, "often")}
    assert system["Snapshots"]
    assert {s["SnapshotName"] for s in system["Snapshots"]} <= mine
    assert {(s["SnapshotSource"], s["SnapshotRetentionLimit"]) for s in system["Snapshots"]} == {("automated", 7)}
    code, user, stderr = aws(elasticache_api, api_user, "describe-snapshots", "--snapshot-source", "user")
    assert code == 0, stderr
    assert [(s["SnapshotName"], s["SnapshotSource"], s["SnapshotRetentionLimit"]) for s in user["Snapshots"]] == [
        ("by-hand", "manual", 0)
    ]
    code, _, stderr = aws(elasticache_api, api_user, "describe-snapshots", "--snapshot-source", "automated")
    assert code == 255
    assert "InvalidParameterValue" in stderr, stderr

    kept = next(s["SnapshotName"] for s in system["Snapshots"] if s["SnapshotStatus"] == "available")
    code, copied, stderr = aws(
        elasticache_api, api_user, "copy-snapshot", "--source-snapshot-name", kept, "--target-snapshot-name", "kept"
    )
    assert code == 0, stderr
    assert copied["Snapshot"]["SnapshotSource"] == "manual"
    copy = scene.wait_phase("kept", "available")
    assert copy["status"]["snapshotSource"] == "manual"
    assert not copy["metadata"].get("ownerReferences")

    scene.kubectl("delete", "rbs", "often", "--timeout=60s")
    wait_until(lambda: not automated(scene, "often"), what="removed the automated backups")
    code, left, stderr = aws(elasticache_api, api_user, "describe-snapshots")
    assert code == 0, stderr
    assert sorted((s["SnapshotName"], s["SnapshotSource"]) for s in left["Snapshots"]) == [
        ("by-hand", "manual"),
        ("kept", "manual"),
    ]
    assert len(s3.keys(directory_of(copy))) == 2, "the copy's data stays"


def test_a_snapshot_window_backs_up_once_a_day_at_its_start_inside_the_window_shown_as_elasticache_does(
    start_scene: StartScene, redis_standalone: Topology, s3: S3Bucket
) -> None:
    timeline = Timeline.starting_now(rate=7200)  # a day in 12 s
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(redis_standalone)
    apply_schedule(scene, "window", cacheClusterId="cache-001", snapshotWindow="23:00-01:00", snapshotRetentionLimit=3)
    backups = wait_until(
        lambda: phases(b := automated(scene, "window"))[:2] == ["available", "available"] and b,
        what="backed up on two days",
        timeout=120,
        operator=operator,
    )
    first, second = slots(backups)[:2]
    # (A whole number of days: on a loaded machine a day's run can find the previous one still being taken.)
    assert (second - first) % dt.timedelta(days=1) == dt.timedelta(0), "the same start minute every day"
    assert (first.hour * 60 + first.minute - 23 * 60) % (24 * 60) < 120, f"{first} is inside 23:00-01:00 UTC"
    schedule = get_schedule(scene, "window")
    assert schedule is not None
    assert schedule["status"]["schedule"] == (
        f"{first.minute} {first.hour} * * * UTC (snapshotWindow 23:00-01:00: starts at {first:%H:%M})"
    )
    shown = {s["SnapshotName"]: s for s in describe(scene, "--snapshot-source", "system")}
    snapshot = shown[backups[0]["spec"]["snapshotName"]]
    assert (snapshot["SnapshotSource"], snapshot["SnapshotWindow"], snapshot["SnapshotRetentionLimit"]) == (
        "automated",
        "23:00-01:00",
        3,
    )


def test_a_run_whose_previous_backup_is_still_being_taken_is_skipped_with_an_event_never_piled_up(
    start_scene: StartScene, redis_factory: RedisFactory, s3: S3Bucket
) -> None:
    # Each snapshot starts 20 s late: the runs due 5 and 10 s after the first find it still being taken.
    slow = redis_factory.standalone(extra={"repl-diskless-sync-delay": "20"})
    timeline = Timeline.starting_now(rate=60)  # "*/5 * * * *" runs every 5 s
    scene = start_scene(storage=s3_storage(s3), env=timeline.env())
    operator = scene.operator
    scene.pods(slow)
    apply_schedule(scene, "eager", cacheClusterId="cache-001", schedule="*/5 * * * *", keepLast=5)
    skipped = wait_until(
        lambda: event_messages(scene, "eager", "SkippedRun"),
        what="skipped a run",
        timeout=90,
        operator=operator,
    )
    (first,) = automated(scene, "eager")
    assert f"the previous automated backup {first['metadata']['name']} is still being taken" in skipped[0]
    schedule = get_schedule(scene, "eager")
    assert schedule is not None
    assert schedule["status"]["active"] == first["metadata"]["name"]
    assert schedule["status"]["lastSkippedTime"] > schedule["status"]["lastScheduleTime"]
    scene.wait_phase(first["metadata"]["name"], "available")
    wait_until(lambda: len(automated(scene, "eager")) >= 2, what="ran again once it was taken")
    taken = slots(automated(scene, "eager"))
    assert len(set(taken)) == len(taken), "one backup per slot"
