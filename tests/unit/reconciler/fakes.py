"""A Kubernetes of plain Python objects for the workflow tests: resolution answers, status patches and events."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api.config import OperatorConfig, StorageLocation
from redisbackup.cli.config_file import parse_config
from redisbackup.domain.conditions import Notice
from redisbackup.domain.pods import SourcePod, Workload
from redisbackup.domain.resolution import ResolvedSource
from redisbackup.domain.source import ConnectionSettings
from redisbackup.k8s.locks import Holder, Marking
from redisbackup.k8s.status import StatusWriter, merge
from redisbackup.servers.metrics import Metrics
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.memory import MemoryStore
from redisbackup.storage.pool import Keys, StorePool
from redisbackup.workflows.backup import RedisBackupReconciler

CREATED = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
PROCESS = "operator-0/1/100/boot/4026531836"


def body(
    name: str = "nightly", *, uid: str = "uid-1", status: Mapping[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": uid,
            "generation": 1,
            "creationTimestamp": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"snapshotName": name, "cacheClusterId": "cache-0", **spec},
        "status": dict(status or {}),
    }


def single_pod(port: int, name: str = "cache-0") -> ResolvedSource:
    pod = SourcePod(name, "127.0.0.1", port, True, CREATED, Workload("StatefulSet", "cache"))
    return ResolvedSource("cacheCluster", name, (pod,), (pod.workload,), namespace="team")


@dataclass
class FakeKubernetes:
    source: Callable[[], ResolvedSource]
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name: the status as the API holds it
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, Notice]] = field(default_factory=list)
    marks: list[tuple[str, Workload, Holder]] = field(default_factory=list)
    holder: Holder | None = None  # someone else's annotation on the workload
    replaced: Holder | None = None  # the hold of a gone process that marking takes over
    renewals: int = 0
    resolutions: int = 0

    async def resolve(self, namespace: str, spec: Mapping[str, Any]) -> ResolvedSource:
        self.resolutions += 1
        return self.source()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[ConnectionSettings]:
        yield ConnectionSettings()

    def connection(
        self, namespace: str, spec: Mapping[str, Any]
    ) -> contextlib.AbstractAsyncContextManager[ConnectionSettings]:
        return self._connection()

    def status_writer(self, body: Mapping[str, Any]) -> StatusWriter:
        async def patch(namespace: str, name: str, change: Mapping[str, Any]) -> None:
            self.patches.append((name, dict(change)))
            merge(self.statuses.setdefault(name, {}), change)

        def post(reference: Mapping[str, Any], notice: Notice) -> None:
            self.events.append((reference["metadata"]["name"], notice))

        return StatusWriter(body, post_event=post, patch=patch)

    async def mark(self, namespace: str, workload: Workload, holder: Holder) -> Marking:
        if self.holder is not None:
            return Marking(held_by=self.holder)
        self.marks.append(("mark", workload, holder))
        return Marking(replaced=self.replaced)

    async def renew(self, namespace: str, workload: Workload, holder: Holder) -> bool:
        self.renewals += 1
        return True

    async def unmark(self, namespace: str, workload: Workload, holder: Holder) -> None:
        self.marks.append(("unmark", workload, holder))

    async def count_backups(self, namespace: str) -> int:
        return len(self.statuses) or 1

    def reasons(self, name: str = "nightly") -> list[str]:
        return [notice.reason for who, notice in self.events if who == name]


class MemoryPool(StorePool):
    def __init__(self, config: OperatorConfig, store: MemoryStore) -> None:
        super().__init__(dict(config.storage.locations))
        self.store = store

    def _open_location(self, location: StorageLocation, keys: Keys) -> ObjectStore:
        return self.store  # every location is this one store; unknown names still fail as in the operator


def backups(
    kubernetes: FakeKubernetes,
    store: MemoryStore,
    *,
    limits: str = "",
    now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] | None = None,
) -> RedisBackupReconciler:
    config = parse_config(f"limits: {{{limits}}}" if limits else "")
    if clock is None:
        clock = (lambda: now) if now is not None else (lambda: CREATED + dt.timedelta(seconds=1))
    return RedisBackupReconciler(
        config, MemoryPool(config, store), Metrics(), kubernetes=kubernetes, clock=clock, process=PROCESS
    )
