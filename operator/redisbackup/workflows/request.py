"""One RedisBackup as the backup and deletion workflows see it, and its progress reports into status."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.domain import status as transitions
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.resolution import field_of
from redisbackup.k8s.status import StatusWriter

Clock = Callable[[], dt.datetime]
log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class BackupRequest:
    """What one attempt needs to know about the RedisBackup (from its body)."""

    body: Mapping[str, Any]

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.body.get("metadata") or {}

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("name"))

    @property
    def uid(self) -> str:
        return str(self.metadata.get("uid"))

    @property
    def generation(self) -> int | None:
        value = self.metadata.get("generation")
        return int(value) if value is not None else None

    @property
    def created(self) -> dt.datetime | None:
        value = self.metadata.get("creationTimestamp")
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None

    @property
    def snapshot_name(self) -> str:
        return str(self.spec.get("snapshotName"))

    @property
    def is_copy(self) -> bool:
        """A copy of another snapshot (spec.sourceSnapshotName), not a snapshot of Redis."""
        return bool(self.spec.get("sourceSnapshotName"))

    @property
    def source_field(self) -> str:
        if self.is_copy:
            return "spec.sourceSnapshotName"
        return field_of("replicationGroup" if self.spec.get("replicationGroupId") else "cacheCluster")

    @property
    def source_id(self) -> str:
        return str(
            self.spec.get("sourceSnapshotName")
            or self.spec.get("replicationGroupId")
            or self.spec.get("cacheClusterId")
        )

    @property
    def location(self) -> SnapshotLocation:
        return SnapshotLocation(namespace=self.namespace, snapshot_name=self.snapshot_name, uid=self.uid)


class ProgressReporter:
    """take_snapshot's progress callback: a status patch at most every `interval` seconds, none for short ones."""

    def __init__(self, writer: StatusWriter, request: BackupRequest, interval: float, clock: Clock) -> None:
        self._writer, self._request, self._interval, self._clock = writer, request, interval, clock
        self._last = time.monotonic()  # nothing in the first interval: short snapshots cost no progress write
        self._pending: asyncio.Task[bool] | None = None

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < self._interval or (self._pending is not None and not self._pending.done()):
            return
        self._last = now
        change = transitions.mark_progress(
            self._writer.status,
            bytes_done=done,
            bytes_total=total,
            generation=self._request.generation,
            now=self._clock(),
        )
        self._pending = asyncio.create_task(self._writer.apply(change), name=f"progress of {self._request.name}")
        self._pending.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[bool]) -> None:
        # Progress is a courtesy (the snapshot goes on, the next report tries again), but never silently lost.
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("%s/%s: progress not written: %s", self._request.namespace, self._request.name, error)

    async def close(self) -> None:
        """Let the last progress patch land before the final status (it must not overwrite it)."""
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
