"""A Kubernetes of plain Python objects and a clock in the test's hand, for the schedule workflow's tests."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.domain.automated import SCHEDULE_LABEL
from redisbackup.domain.conditions import Notice
from redisbackup.k8s.faults import AlreadyExists
from redisbackup.k8s.status import FieldManager, StatusWriter, merge
from redisbackup.servers.metrics import Metrics
from redisbackup.workflows.schedule import ScheduleReconciler

T0 = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule(
    name: str = "nightly", *, uid: str = "sched-uid-1", created: dt.datetime = T0, generation: int = 1, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackupSchedule",
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": uid,
            "generation": generation,
            "creationTimestamp": stamp(created),
        },
        "spec": {"cacheClusterId": "cache-0", **spec},
        "status": {},
    }


@dataclass
class ManualClock:
    moment: dt.datetime = T0
    slept: list[float] = field(default_factory=list)

    def now(self) -> dt.datetime:
        return self.moment

    def at(self, instant: dt.datetime) -> dt.datetime:
        return instant

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None:
        self.slept.append(seconds)
        await asyncio.sleep(0)

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)


@dataclass
class FakeScheduleKubernetes:
    backups: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name, as the apiserver holds them
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # the schedule's status as the apiserver holds it
    events: list[Notice] = field(default_factory=list)

    async def list_automated(self, namespace: str, schedule: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(b)
            for b in self.backups.values()
            if (b["metadata"].get("labels") or {}).get(SCHEDULE_LABEL) == schedule
        ]

    async def create_backup(self, namespace: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if name in self.backups:
            raise AlreadyExists(f"redisbackups {name} already exists", code=FaultCode.SNAPSHOT_ALREADY_EXISTS)
        self.backups[name] = copy.deepcopy(body)
        self.created.append(name)

    async def get_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.backups.get(name))

    async def delete_backup(self, namespace: str, name: str) -> None:
        if self.backups.pop(name, None) is not None:
            self.deleted.append(name)

    def status_writer(self, body: Mapping[str, Any]) -> StatusWriter:
        async def apply(namespace: str, name: str, manager: str, status: Mapping[str, Any]) -> Mapping[str, Any]:
            merge(self.status, status)  # what the writer applies, as the server merges it
            return {"status": copy.deepcopy(self.status)}

        def post(reference: Mapping[str, Any], notice: Notice) -> None:
            self.events.append(notice)

        return StatusWriter(
            {**body, "status": self.status}, manager=FieldManager.SCHEDULER, apply=apply, post_event=post
        )

    # -- what the RedisBackup reconciler would do to a backup
    def finish(self, name: str, phase: str = "available", reason: str = "ChecksumMismatch") -> None:
        status: dict[str, Any] = {"phase": phase, "snapshotSource": "automated"}
        if phase == "failed":
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": reason, "message": "bad trailer"}]
        self.backups[name]["status"] = status

    def start(self, name: str) -> None:
        self.backups[name]["status"] = {"phase": "creating", "snapshotSource": "automated"}

    def reasons(self) -> list[str]:
        return [event.reason for event in self.events]


def reconciler(kubernetes: FakeScheduleKubernetes, clock: ManualClock) -> tuple[ScheduleReconciler, Metrics]:
    metrics = Metrics()
    metrics.schedules.now = clock.now
    return ScheduleReconciler(kubernetes, clock, metrics.schedules), metrics
