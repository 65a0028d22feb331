"""RedisBackupSchedules on the real control plane (garbage collector included), real redis-server and S3: runs on
time, retention by count and by age, suspend, missed runs, restarts, and the schedule's deletion.

Most tests run the operator's schedules on a faster clock (schedule_support.Timeline) so that hours of schedule
pass in seconds; one runs an every-minute cron on the wall clock.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology, fill_mixed
from tests.e2e.operator_support import apply, wait_phase
from tests.e2e.restore_support import redisbackup
from tests.e2e.schedule_support import (
    SCHEDULED_AT,
    Timeline,
    apply_schedule,
    automated,
    condition,
    get_schedule,
    phases,
    schedule_events,
    slots,
    wait_until,
)

pytestmark = pytest.mark.e2e


def directory_of(body: dict[str, Any]) -> str:
    return f"{body['metadata']['namespace']}/{body['spec']['snapshotName']}/{body['metadata']['uid']}/"


def describe(kube: Cluster, namespace: str, *flags: str) -> list[dict[str, Any]]:
    result = redisbackup("describe-snapshots", "-n", namespace, *flags, env={"KUBECONFIG": str(kube.kubeconfig)})
    assert result.returncode == 0, result.stderr
    snapshots: list[dict[str, Any]] = json.loads(result.stdout)["Snapshots"]
    return snapshots


def test_a_schedule_keeps_the_newest_backups_shows_them_as_automated_and_takes_them_and_their_data_along_when_deleted(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_standalone: Topology,
    mirror: Mirror,
    s3: S3Bucket,
) -> None:
    timeline = Timeline.starting_now(rate=60)  # "*/5 * * * *" runs every 5 s
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3), env=timeline.env())
    with redis_standalone.primary.client() as redis:
        fill_mixed(redis, count=50)
    mirror.pods(redis_standalone, namespace, "cache")
    apply(kube, namespace, "manual", snapshotName="manual", cacheClusterId="cache-001")
    manual = wait_phase(kube_api, namespace, "manual", "available", operator=operator)
    apply_schedule(kube, namespace, "every-five", cacheClusterId="cache-001", schedule="*/5 * * * *", keepLast=2)

    def runs() -> int:
        return [reason for reason, _ in schedule_events(kube_api, namespace, "every-five")].count("Scheduled")

    wait_until(lambda: runs() >= 4, what="ran four times", timeout=120, operator=operator)
    backups = wait_until(
        lambda: (b := automated(kube_api, namespace, "every-five")) and phases(b) == ["available", "available"] and b,
        what="kept the newest two available backups",
        operator=operator,
    )
    taken = slots(backups)
    assert taken[1] - taken[0] == dt.timedelta(minutes=5), "consecutive slots, none skipped"
    assert all(slot.minute % 5 == 0 and slot.second == 0 for slot in taken), "exactly on the slots"
    for backup in backups:
        assert backup["status"]["snapshotSource"] == "automated"
        assert backup["metadata"]["name"] == backup["spec"]["snapshotName"]
        assert backup["metadata"]["name"].endswith(taken[backups.index(backup)].strftime("-%Y%m%d%H%M"))
    schedule = get_schedule(kube_api, namespace, "every-five")
    assert schedule is not None
    status = schedule["status"]
    assert status["kept"] == 2
    assert status["lastSuccessfulTime"] == backups[-1]["metadata"]["annotations"][SCHEDULED_AT]
    assert (condition(schedule, "Ready")["status"], condition(schedule, "Ready")["observedGeneration"]) == ("True", 1)
    assert condition(schedule, "Stalled")["status"] == "False"
    pruned = [message for reason, message in schedule_events(kube_api, namespace, "every-five") if reason == "Pruned"]
    assert pruned, "retention said what it deleted"
    assert manual["metadata"]["name"] in {b["metadata"]["name"] for b in _all_backups(kube_api, namespace)}
    assert metric_of(operator.metrics(), "redisbackup_schedule_interval_seconds", namespace, "every-five") == 300

    # The CLI twin: --snapshot-source system shows the automated ones, user the manual one, as ElastiCache.
    system = describe(kube, namespace, "--snapshot-source", "system")
    assert {s["SnapshotSource"] for s in system} == {"automated"}
    assert {s["SnapshotName"] for s in system} >= {b["spec"]["snapshotName"] for b in backups}
    user = describe(kube, namespace, "--snapshot-source", "user")
    assert [(s["SnapshotName"], s["SnapshotSource"], s["SnapshotRetentionLimit"]) for s in user] == [
        ("manual", "manual", 0)
    ]

    # Deleting the schedule deletes its automated backups (the garbage collector) and, through their finalizer,
    # their stored data; the manual backup stays.
    kept_directories = [directory_of(b) for b in automated(kube_api, namespace, "every-five")]
    kube.kubectl("delete", "rbs", "every-five", "-n", namespace, "--timeout=60s")
    wait_until(lambda: not automated(kube_api, namespace, "every-five"), what="removed the automated backups")
    for directory in kept_directories:
        assert s3.keys(directory) == [], f"{directory} was not deleted"
    assert len(s3.keys(directory_of(manual))) == 2
    assert [b["metadata"]["name"] for b in _all_backups(kube_api, namespace)] == ["manual"]


def _all_backups(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
        "redisbackup.io", "v1alpha1", namespace, "redisbackups"
    )
    return list(listing["items"])


def metric_of(metrics: dict[str, float], name: str, namespace: str, schedule: str) -> float | None:
    return metrics.get(f'{name}{{namespace="{namespace}",schedule="{schedule}"}}')
