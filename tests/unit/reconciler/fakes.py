"""A Kubernetes of plain Python objects for the workflow tests: resolution answers, status writes and events."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api.config import OperatorConfig, StorageLocation
from redisbackup.cli.config_file import parse_config
from redisbackup.domain.conditions import Notice, merge
from redisbackup.domain.pods import SourcePod, Workload
from redisbackup.domain.resolution import ResolvedSource
from redisbackup.domain.source import ConnectionSettings
from redisbackup.k8s.locks import Holder, Marking
from redisbackup.k8s.status import FieldManager, StatusWriter
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


Path = tuple[str, ...]


def _paths(status: Mapping[str, Any]) -> dict[Path, Any]:
    """Top-level fields, and each condition's fields by type: the granularity the fake tracks ownership at."""
    found: dict[Path, Any] = {}
    for key, value in status.items():
        if key == "conditions":
            for condition in value:
                for field_name, field_value in condition.items():
                    found[(key, condition["type"], field_name)] = field_value
        else:
            found[(key,)] = value
    return found


@dataclass
class ServerSideApply:
    """The API server's side of server-side apply on statuses, in miniature: a manager owns what it applied (shared
    with another one that applied the same value, taken from it when different); a field its manager stops
    applying is removed unless another manager owns it."""

    statuses: dict[str, dict[str, Any]]
    owners: dict[str, dict[str, set[Path]]] = field(default_factory=dict)

    def apply(self, name: str, manager: str, applied: Mapping[str, Any]) -> dict[str, Any]:
        status = self.statuses.setdefault(name, {})
        owners = self.owners.setdefault(name, {})
        wanted, current = _paths(applied), _paths(status)
        for other, paths in owners.items():
            if other != manager:
                paths -= {path for path in wanted if path in current and current[path] != wanted[path]}
        others = set().union(*(paths for other, paths in owners.items() if other != manager))
        for path in owners.get(manager, set()) - wanted.keys() - others:
            if len(path) == 1:
                status.pop(path[0], None)
            else:
                for condition in status.get("conditions") or []:
                    if condition.get("type") == path[1]:
                        condition.pop(path[2], None)
        owners[manager] = set(wanted)
        replaced = {key: value for key, value in applied.items() if key != "conditions"}
        status.update(copy.deepcopy(replaced))  # a field is set to what is applied, not merged into
        merge(status, {"conditions": applied["conditions"]} if "conditions" in applied else {})
        return {"status": copy.deepcopy(status)}


@dataclass
class FakeKubernetes:
    source: Callable[[], ResolvedSource]
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name: the status as the API holds it
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (name, what a writer applied)
    managers: list[str] = field(default_factory=list)  # the field manager of each write
    events: list[tuple[str, Notice]] = field(default_factory=list)
    marks: list[tuple[str, Workload, Holder]] = field(default_factory=list)
    holder: Holder | None = None  # someone else's annotation on the workload
    replaced: Holder | None = None  # the hold of a gone process that marking takes over
    renewals: int = 0
    resolutions: int = 0
    copy_source: Callable[[], dict[str, Any] | None] = lambda: None  # what find_snapshot answers (or raises)
    refuse_write: Callable[[Mapping[str, Any]], Exception | None] = lambda _status: None  # a write's fault, if any

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

    def __post_init__(self) -> None:
        self.server = ServerSideApply(self.statuses)

    def status_writer(self, body: Mapping[str, Any], manager: FieldManager) -> StatusWriter:
        async def apply(namespace: str, name: str, manager: str, status: Mapping[str, Any]) -> dict[str, Any]:
            if (refused := self.refuse_write(status)) is not None:
                raise refused
            self.patches.append((name, copy.deepcopy(dict(status))))
            self.managers.append(manager)
            return self.server.apply(name, manager, status)

        def post(reference: Mapping[str, Any], notice: Notice) -> None:
            self.events.append((reference["metadata"]["name"], notice))

        return StatusWriter(body, manager=manager, post_event=post, apply=apply)

    async def find_snapshot(self, namespace: str, snapshot_name: str) -> dict[str, Any] | None:
        return self.copy_source()

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
