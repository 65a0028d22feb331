"""What the workflows need from Kubernetes, as one small interface (the real one, or a fake in unit tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from redisbackup.domain.pods import Workload
from redisbackup.domain.resolution import ResolvedSource
from redisbackup.domain.source import ConnectionSettings
from redisbackup.k8s import credentials, redisbackups, sources
from redisbackup.k8s.api import in_thread
from redisbackup.k8s.locks import Holder, Marking, SnapshotLocks
from redisbackup.k8s.status import FieldManager, StatusWriter
from redisbackup.local.process_identity import ProcessIdentity, is_running


class KubernetesAccess(Protocol):
    async def resolve(self, namespace: str, spec: Mapping[str, Any]) -> ResolvedSource:
        """The Pod(s) the spec names (raises the resolution faults)."""

    def connection(
        self, namespace: str, spec: Mapping[str, Any]
    ) -> contextlib.AbstractAsyncContextManager[ConnectionSettings]:
        """Credentials and TLS from the Secrets the spec names, valid inside the block."""

    def status_writer(self, body: Mapping[str, Any], manager: FieldManager) -> StatusWriter:
        """The status of `body` as `manager` writes it (server-side apply under that field manager)."""

    async def find_snapshot(self, namespace: str, snapshot_name: str) -> dict[str, Any] | None:
        """The RedisBackup of `namespace` with this snapshotName (ignoring case), if any: a copy's source."""

    async def mark(self, namespace: str, workload: Workload, holder: Holder) -> Marking:
        """Annotate the workload as being snapshotted (Marking.held_by: the other live holder when it is taken)."""

    async def renew(self, namespace: str, workload: Workload, holder: Holder) -> bool:
        """Renew the mark's lease; False when it is no longer ours."""

    async def unmark(self, namespace: str, workload: Workload, holder: Holder) -> None: ...

    async def count_backups(self, namespace: str) -> int:
        """How many RedisBackups the namespace holds now (a consistent read)."""


class LiveKubernetes:
    """The apiserver, through redisbackup.k8s."""

    def __init__(self) -> None:
        self.locks = SnapshotLocks(process_check=_process_check)

    async def resolve(self, namespace: str, spec: Mapping[str, Any]) -> ResolvedSource:
        return await sources.resolve_source(namespace, spec)

    def connection(
        self, namespace: str, spec: Mapping[str, Any]
    ) -> contextlib.AbstractAsyncContextManager[ConnectionSettings]:
        return credentials.redis_connection(namespace, spec)

    def status_writer(self, body: Mapping[str, Any], manager: FieldManager) -> StatusWriter:
        # The snapshot's writer is the one two processes run at once during a rolling update: fenced.
        return StatusWriter(body, manager=manager, fenced=manager is FieldManager.SNAPSHOT)

    async def find_snapshot(self, namespace: str, snapshot_name: str) -> dict[str, Any] | None:
        try:
            return await in_thread(redisbackups.find_backup, namespace, snapshot_name)
        except redisbackups.SnapshotNotFound:
            return None

    async def mark(self, namespace: str, workload: Workload, holder: Holder) -> Marking:
        return await in_thread(self.locks.acquire, namespace, workload, holder)

    async def renew(self, namespace: str, workload: Workload, holder: Holder) -> bool:
        return await in_thread(self.locks.renew, namespace, workload, holder)

    async def unmark(self, namespace: str, workload: Workload, holder: Holder) -> None:
        await in_thread(self.locks.release, namespace, workload, holder)

    async def count_backups(self, namespace: str) -> int:
        return await redisbackups.count_backups(namespace)


def _process_check(identity: str) -> bool | None:
    """Whether the operator process of a hold runs (None: not visible from here, its lease decides)."""
    parsed = ProcessIdentity.parse(identity)
    return None if parsed is None else is_running(parsed)
