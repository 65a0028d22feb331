"""Final snapshots without a cluster: which RedisBackup a deleted workload gets, and that the workload is always
released — with the snapshot, or with the reason it could not be taken."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.domain.conditions import Notice
from redisbackup.domain.final_snapshot import FINAL_SNAPSHOT_FINALIZER, Workload, final_backup
from redisbackup.k8s.faults import AlreadyExists
from redisbackup.workflows.final_snapshot import FinalSnapshots

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def statefulset(
    name: str = "cache", *, replicas: int = 1, finalizers: list[str] | None = None, deleted: bool = False, **notes: str
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "team",
        "uid": f"uid-{name}",
        "annotations": {f"redisbackup.io/{key.replace('_', '-')}": value for key, value in notes.items()},
        "finalizers": finalizers or [],
    }
    if deleted:
        metadata["deletionTimestamp"] = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": {"replicas": replicas}}


def test_the_source_is_the_workload_itself_completed_by_the_spec_annotation() -> None:
    one = final_backup(Workload.of("StatefulSet", statefulset()), statefulset(final_snapshot="Cache-Final"))
    assert one.violations == []
    assert one.body["metadata"]["name"] == "cache-final"
    assert one.body["spec"] == {"snapshotName": "Cache-Final", "cacheClusterId": "cache"}
    assert one.body["metadata"]["annotations"] == {"redisbackup.io/final-snapshot-of": "StatefulSet/cache/uid-cache"}
    body = statefulset(replicas=6, final_snapshot="shards", final_snapshot_spec='{"port": 7000, "storage": "archive"}')
    sharded = final_backup(Workload.of("StatefulSet", body), body)
    assert sharded.body["spec"] == {
        "port": 7000,
        "storage": "archive",
        "snapshotName": "shards",
        "replicationGroupId": "cache",
    }
    chosen = statefulset(replicas=3, final_snapshot="node", final_snapshot_spec='{"cacheClusterId": "cache-1"}')
    assert final_backup(Workload.of("StatefulSet", chosen), chosen).body["spec"]["cacheClusterId"] == "cache-1"


def test_a_bad_annotation_is_a_violation_naming_the_annotation() -> None:
    body = statefulset(final_snapshot="two--hyphens", final_snapshot_spec='{"port": "6379"}')
    found = final_backup(Workload.of("StatefulSet", body), body).violations
    assert {v.field for v in found} == {"spec.snapshotName", "spec.port"}
    assert all(v.message.startswith("the annotation redisbackup.io/final-snapshot") for v in found)
    garbage = statefulset(final_snapshot="ok", final_snapshot_spec="{not json")
    (violation,) = final_backup(Workload.of("StatefulSet", garbage), garbage).violations
    assert violation.field == "redisbackup.io/final-snapshot-spec"
    assert violation.code == FaultCode.INVALID_PARAMETER_VALUE


@dataclass
class FakeKubernetes:
    finalizers: dict[str, bool] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[Notice] = field(default_factory=list)
    becomes: str | None = "available"  # what a created backup turns into

    async def update_finalizer(self, workload: Workload, *, present: bool, result: str | None = None) -> bool:
        self.finalizers[workload.name] = present
        if result is not None:
            self.results[workload.name] = result
        return True

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if name in self.backups:
            raise AlreadyExists(f"{name} exists", code=FaultCode.SNAPSHOT_ALREADY_EXISTS)
        self.backups[name] = copy.deepcopy(body)

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        backup = self.backups.get(name)
        if backup is not None and self.becomes and "status" not in backup:
            backup["status"] = {"phase": self.becomes}
        return copy.deepcopy(backup)

    def post_event(self, body: Mapping[str, Any], notice: Notice) -> None:
        self.events.append(notice)


def finals(kube: FakeKubernetes, deadline: float = 60.0) -> FinalSnapshots:
    return FinalSnapshots(kube, deadline_seconds=deadline, clock=lambda: NOW, poll_seconds=0.01)


async def settle(snapshots: FinalSnapshots) -> None:
    while snapshots.running:
        await asyncio.gather(*snapshots.running.values())


async def test_the_finalizer_follows_the_annotation_until_the_deletion() -> None:
    kube = FakeKubernetes()
    snapshots = finals(kube)
    await snapshots.observe("StatefulSet", statefulset(final_snapshot="final"))
    assert kube.finalizers == {"cache": True}
    await snapshots.observe("StatefulSet", statefulset(finalizers=[FINAL_SNAPSHOT_FINALIZER]))
    assert kube.finalizers == {"cache": False}, "the annotation was removed: the workload is given back"
    assert kube.backups == {}


async def test_a_deleted_workload_gets_its_snapshot_then_is_released_with_the_result() -> None:
    kube = FakeKubernetes()
    snapshots = finals(kube)
    deleted = statefulset(final_snapshot="final", finalizers=[FINAL_SNAPSHOT_FINALIZER], deleted=True)
    await snapshots.observe("StatefulSet", deleted)
    await snapshots.observe("StatefulSet", deleted)  # a second event while it runs starts nothing more
    await settle(snapshots)
    assert list(kube.backups) == ["final"]
    assert kube.finalizers == {"cache": False}
    assert kube.results["cache"].startswith("FinalSnapshotTaken: took the final snapshot final")
    assert [e.reason for e in kube.events] == ["FinalSnapshotTaken"]


async def test_a_restarted_operator_picks_up_its_own_backup_but_never_anothers() -> None:
    kube = FakeKubernetes()
    deleted = statefulset(final_snapshot="final", finalizers=[FINAL_SNAPSHOT_FINALIZER], deleted=True)
    planned = final_backup(Workload.of("StatefulSet", deleted), deleted).body
    kube.backups["final"] = {**planned, "status": {"phase": "creating"}}
    snapshots = finals(kube)
    await snapshots.observe("StatefulSet", deleted)
    await asyncio.sleep(0.05)
    kube.backups["final"]["status"] = {"phase": "available"}
    await settle(snapshots)
    assert [e.reason for e in kube.events] == ["FinalSnapshotTaken"]

    other = FakeKubernetes(backups={"final": {"metadata": {"name": "final"}, "status": {"phase": "available"}}})
    snapshots = finals(other)
    await snapshots.observe("StatefulSet", deleted)
    await settle(snapshots)
    assert [e.reason for e in other.events] == ["FinalSnapshotFailed"]
    assert other.results["cache"].startswith("SnapshotAlreadyExistsFault: ")
    assert other.finalizers == {"cache": False}, "released all the same"


async def test_the_deadline_releases_a_workload_whose_snapshot_never_finishes() -> None:
    kube = FakeKubernetes(becomes=None)
    snapshots = finals(kube, deadline=0.2)
    snapshots.clock = lambda: NOW + dt.timedelta(seconds=0.1)
    await snapshots.observe(
        "StatefulSet", statefulset(final_snapshot="final", finalizers=[FINAL_SNAPSHOT_FINALIZER], deleted=True)
    )
    await settle(snapshots)
    assert kube.finalizers == {"cache": False}
    assert kube.results["cache"].startswith("FinalSnapshotTimedOut: the final snapshot final was not available 0.2s")
    assert [(e.type, e.reason) for e in kube.events] == [("Warning", "FinalSnapshotFailed")]
