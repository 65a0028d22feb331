"""The backup use case: one RedisBackup, from accepted to available (or failed).

    check the spec again ─► creating ─► resolve the source ─► wait for the source's turn ─► mark the workload
    ─► wait for a snapshot slot ─► (resolve again if it waited) ─► plan (INFO / CLUSTER SHARDS) ─► take_snapshot
    ─► unmark ─► available
    (a copy, spec.sourceSnapshotName: creating ─► wait for a slot ─► find the source snapshot ─► copy_snapshot
    ─► available)

The plan (which Pods, which node of each shard, the slot ranges) is made under the slot, never before it: the wait
for a slot has no bound, and the cluster may fail over or reshard, or a Pod IP go to another Pod, meanwhile.

`RedisBackupReconciler.run` is one attempt. It returns when the RedisBackup is terminal (available or failed) and
raises the fault when a later attempt may succeed (the caller, kopf, retries after `retry_delay`): a source not
there yet or not Ready (until `sourceMissingDeadlineSeconds` after that wait began), a node loading its data set
(until `busyDeadlineSeconds` after that wait began), a source busy with another snapshot (always), any other
transient fault — a lost connection, an apiserver that did not answer — up to `snapshotAttempts` times. Waits are
not failed attempts; when each began is kept in status (sourceMissingSince, busySince), so that a restart keeps it
and a backup that queued for long does not fail at once. Every failure is a typed fault (an unexpected exception
becomes InternalFailure) and is told in the Progressing condition (waiting: which attempt this was) or the Failed
one, each with its Event: never only in the log. A permanent fault (a Secret the operator may not read, a spec the
webhook would refuse) fails the RedisBackup at once.

A terminal RedisBackup is never snapshotted again, and an attempt that finds this uid's manifest already committed
(an earlier attempt died just before writing the status) only writes the status; a committed snapshot is never
failed: only its status is left to write, and that is retried until it lands. Nothing waits on the apiserver while
it queues: the order is kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

from redisbackup.api import validation
from redisbackup.api.config import OperatorConfig
from redisbackup.api.status import Phase
from redisbackup.domain.admission import fault_for
from redisbackup.domain.automated import snapshot_source
from redisbackup.domain.conditions import StatusChange
from redisbackup.domain.describe import status_fields
from redisbackup.domain.faults import InternalFailure, RedisBackupError
from redisbackup.domain.layout import new_attempt_id
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.resolution import AwaitingSource, ResolvedSource, SourceBusy
from redisbackup.domain.status import (
    BUSY_SINCE,
    SOURCE_MISSING_SINCE,
    is_terminal,
    mark_available,
    mark_creating,
    mark_failed,
    mark_planned,
    mark_source_found,
    mark_waiting,
    phase_of,
    waiting_since,
)
from redisbackup.k8s.faults import StatusSuperseded
from redisbackup.k8s.locks import Holder
from redisbackup.k8s.status import FieldManager, StatusWriter
from redisbackup.local.process_identity import this_process
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.faults import RedisNotReady
from redisbackup.servers.metrics import Metrics
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.pool import StorePool
from redisbackup.workflows.access import KubernetesAccess, LiveKubernetes
from redisbackup.workflows.budget import StreamBudget, budget_bytes, container_memory_limit
from redisbackup.workflows.commit import read_manifest, sweep
from redisbackup.workflows.concurrency import RunningSnapshots, SourceGate
from redisbackup.workflows.copy import copied_fields, copy_snapshot, find_copy_source
from redisbackup.workflows.marking import SourceMarks
from redisbackup.workflows.planning import plan_snapshot
from redisbackup.workflows.request import BackupRequest, Clock, ProgressReporter, utc_now
from redisbackup.workflows.snapshot import take_snapshot
from redisbackup.workflows.uniqueness import BackupIndex, KnownPeers, Peers, peers_of

log = logging.getLogger(__name__)


class SnapshotSlot(NamedTuple):
    """A slot of limits.maxConcurrentSnapshots held by one snapshot (or copy): its progress reports, when it got
    the slot, and whether it waited for it."""

    progress: ProgressReporter
    started: float
    waited: bool  # whether it had to wait for the slot (what was resolved before may have changed meanwhile)


class RedisBackupReconciler:
    """Every RedisBackup this operator snapshots: limits, queues, stores and status writers."""

    def __init__(
        self,
        config: OperatorConfig,
        stores: StorePool,
        metrics: Metrics,
        *,
        kubernetes: KubernetesAccess | None = None,
        clock: Clock = utc_now,
        process: str | None = None,
    ) -> None:
        self.config = config
        self.process = process or str(this_process())  # named in the source's mark (k8s.locks)
        self.limits = config.limits
        self.stores = stores
        self.metrics = metrics
        self.kubernetes = kubernetes or LiveKubernetes()
        self.clock = clock
        self.gate = SourceGate()
        self.running_snapshots = RunningSnapshots()
        self.index = BackupIndex()
        self._slots = asyncio.Semaphore(self.limits.max_concurrent_snapshots)
        # Node streams across every snapshot, by count and by stated memory (workflows.budget).
        self.stream_budget = StreamBudget(
            budget_bytes(self.limits.stream_memory_budget_mib, container_memory_limit()),
            self.limits.max_concurrent_streams,
        )
        self._writers: dict[str, StatusWriter] = {}
        self._failures: dict[str, int] = {}
        self._committed: set[str] = set()  # uids whose manifest is stored: only their status is left to write
        self.timeouts = Timeouts(
            connect=self.limits.connect_timeout_seconds,
            first_byte=self.limits.first_byte_timeout_seconds,
            stall=self.limits.stall_timeout_seconds,
        )

    def retry_delay(self, retry: int, fault: RedisBackupError | None = None) -> float:
        if fault is not None and fault.retry_after:
            return fault.retry_after
        return self.limits.retry_delay(retry)

    def writer(self, body: Mapping[str, Any]) -> StatusWriter:
        """The snapshot's status writer of this RedisBackup for as long as it is being created (kept across
        attempts: it applies, each time, everything the snapshot has set)."""
        uid = str((body.get("metadata") or {}).get("uid"))
        writer = self._writers.get(uid)
        if writer is None:
            writer = self._writers[uid] = self.kubernetes.status_writer(body, FieldManager.SNAPSHOT)
        return writer

    def forget(self, uid: str) -> None:
        self._writers.pop(uid, None)
        self._failures.pop(uid, None)
        self._committed.discard(uid)

    # ------------------------------------------------------------------------------------------ one attempt
    async def run(self, body: Mapping[str, Any], peers: Peers | None = None) -> None:
        request = BackupRequest(body)
        writer = self.writer(body)
        if is_terminal(writer.status):
            self.forget(request.uid)
            return  # never again: a finished snapshot is not re-taken, a failed one not retried
        with self.running_snapshots.track(request.uid):
            try:
                await self._attempt_and_settle(request, writer, peers or KnownPeers())
            except StatusSuperseded as done:  # another process finished it: nothing of ours to write or retry
                log.info("%s/%s: %s", request.namespace, request.name, done)
                self.forget(request.uid)

    async def _attempt_and_settle(self, request: BackupRequest, writer: StatusWriter, peers: Peers) -> None:
        try:
            await self._attempt(request, writer, peers)
        except StatusSuperseded:
            raise
        except RedisBackupError as fault:
            await self._settle(request, writer, fault)
        except Exception as error:
            log.exception("%s/%s: unexpected error while taking the snapshot", request.namespace, request.name)
            await self._settle(request, writer, InternalFailure.of(error, "taking the snapshot"))

    async def _settle(self, request: BackupRequest, writer: StatusWriter, fault: RedisBackupError) -> None:
        """Where every failed attempt ends: wait (Progressing says why, and raise for a retry) or fail."""
        committed = request.uid in self._committed
        waiting = self._waiting(writer.status, fault)
        if committed or (fault.transient and not self._give_up(request, fault, waiting)):
            if committed:
                fault.message += " (the snapshot is stored: its status is written when the apiserver takes it)"
            try:
                await writer.apply(mark_waiting(writer.status, fault, **self._as_of(request), waiting=waiting))
            except StatusSuperseded:
                raise
            except RedisBackupError as unwritten:  # the apiserver is the problem: the fault is retried all the same
                log.warning("%s/%s: could not record %s: %s", request.namespace, request.name, fault.code, unwritten)
            raise fault
        await self._fail(request, writer, fault)

    def _as_of(self, request: BackupRequest) -> dict[str, Any]:
        """What every transition records: the generation it observed and when."""
        return {"generation": request.generation, "now": self.clock()}

    def _waiting(self, status: Mapping[str, Any], fault: RedisBackupError) -> tuple[str, dt.datetime] | None:
        """The wait `fault` is part of (a status field of WAITS) and when it began; None: it is no wait."""
        if isinstance(fault, AwaitingSource):
            wait = SOURCE_MISSING_SINCE
        elif isinstance(fault, RedisNotReady):
            wait = BUSY_SINCE
        else:
            return None
        return wait, waiting_since(status, wait) or self.clock()

    def _give_up(
        self, request: BackupRequest, fault: RedisBackupError, waiting: tuple[str, dt.datetime] | None
    ) -> bool:
        if isinstance(fault, SourceBusy):
            return False  # waiting for another snapshot of the source is never a reason to fail
        if waiting is not None:
            # A wait, not a failed attempt: bounded by its own deadline, counted from when it began (persisted in
            # status), never from the RedisBackup's creation — it may have queued behind others for hours.
            wait, since = waiting
            limit, deadline = (
                ("sourceMissingDeadlineSeconds", self.limits.source_missing_deadline_seconds)
                if wait == SOURCE_MISSING_SINCE
                else ("busyDeadlineSeconds", self.limits.busy_deadline_seconds)
            )
            waited = (self.clock() - since).total_seconds()
            if waited >= deadline:
                fault.message += f" (gave up after waiting {waited:.0f}s; limits.{limit} is {deadline:g})"
                return True
            fault.message += f" (waiting since {since:%Y-%m-%dT%H:%M:%SZ}; limits.{limit} is {deadline:g})"
            return False
        self._failures[request.uid] = failures = self._failures.get(request.uid, 0) + 1
        attempts = self.limits.snapshot_attempts
        if failures >= attempts:
            fault.message += f" (gave up after {failures} attempts; limits.snapshotAttempts is {attempts})"
            return True
        fault.message += f" (attempt {failures} of {attempts}, limits.snapshotAttempts: it is tried again)"
        return False

    async def _fail(self, request: BackupRequest, writer: StatusWriter, fault: RedisBackupError) -> None:
        await self._terminal(request, writer, mark_failed(writer.status, fault, **self._as_of(request)))
        self.metrics.backups.labels(result="failed").inc()

    async def _terminal(self, request: BackupRequest, writer: StatusWriter, change: StatusChange) -> None:
        """Write the last transition; the RedisBackup is forgotten once it is written (a write the apiserver
        refused raises, and the next attempt has what it needs), or when the operator, seeing it, cancels the task."""
        try:
            await writer.apply(change)
        except asyncio.CancelledError:
            self.forget(request.uid)
            raise
        self.forget(request.uid)

    async def _attempt(self, request: BackupRequest, writer: StatusWriter, peers: Peers) -> None:
        # The webhook's rules again: it may not have been installed, or two creates raced past it.
        invalid = fault_for(validation.check_admitted(request.body, (), namespace=request.namespace))
        if invalid is not None:
            raise invalid
        storage = writer.status.get("storage") or request.spec.get("storage") or self.config.storage.default_location
        # An unknown location fails the backup (the spec names it); the store stays open until the attempt ends.
        async with self.stores.lease(storage) as store:
            await self._attempt_in(request, writer, peers, store, storage)

    async def _attempt_in(
        self, request: BackupRequest, writer: StatusWriter, peers: Peers, store: ObjectStore, storage: str
    ) -> None:
        resumed = phase_of(writer.status) == Phase.CREATING
        if not resumed:  # a retry keeps the reason of its wait until streaming starts (no write per retry)
            await writer.apply(
                mark_creating(
                    writer.status,
                    snapshot_name=request.snapshot_name,
                    source_field=request.source_field,
                    source_id=request.source_id,
                    storage=storage,
                    snapshot_source=snapshot_source(request.body),
                    **self._as_of(request),
                )
            )
        await self._check_unique(request, peers)
        if resumed and (manifest := await read_manifest(store, request.location)) is not None:
            # Committed by an attempt that died before it wrote the status: describe it, never take it again.
            log.info("%s/%s: snapshot already committed; writing its status", request.namespace, request.name)
            await sweep(store, request.location, manifest)  # what attempts that lost the commit left behind
            source = None if request.is_copy else await self._resolve_quietly(request)
            await self._finish(request, writer, manifest, store, storage, source, None, started=None)
            return
        if request.is_copy:
            await self._copy(request, writer, store, storage)
            return
        source = await self._resolve(request, writer)
        keys = [(source.namespace, workload) for workload in source.workloads]
        if (holder := self.gate.holder(keys)) is not None:
            busy = SourceBusy(
                f'{request.source_field} "{request.source_id}" is being snapshotted by RedisBackup "{holder}"; this '
                "snapshot waits its turn (one snapshot per source at a time)"
            )
            await writer.apply(mark_waiting(writer.status, busy, **self._as_of(request)))
        async with self.gate.hold(keys, request.name):
            if holder is not None:  # the pods may have moved while we waited
                source = await self._resolve(request, writer)
            await self._snapshot(request, writer, source, store, storage)

    async def _check_unique(self, request: BackupRequest, peers: Peers) -> None:
        others = await peers_of(
            peers,
            lambda: self.kubernetes.count_backups(request.namespace),
            where=f"{request.namespace}/{request.name}",
        )
        taken = fault_for(validation.check_admitted(request.body, others, namespace=request.namespace))
        if taken is not None:
            raise taken

    async def _resolve(self, request: BackupRequest, writer: StatusWriter) -> ResolvedSource:
        """The source's Pods now; a wait for them is over once they are found (its deadline starts afresh)."""
        source = await self.kubernetes.resolve(request.namespace, request.spec)
        await writer.apply(mark_source_found(writer.status, **self._as_of(request)))
        return source

    async def _resolve_quietly(self, request: BackupRequest) -> ResolvedSource | None:
        with contextlib.suppress(RedisBackupError):
            return await self.kubernetes.resolve(request.namespace, request.spec)
        return None

    async def _snapshot(
        self, request: BackupRequest, writer: StatusWriter, source: ResolvedSource, store: ObjectStore, storage: str
    ) -> None:
        attempt = new_attempt_id(self.clock())
        ours = Holder(request.name, request.uid, request.namespace, process=self.process, attempt=attempt)
        async with SourceMarks(self.kubernetes, request, ours).held() as marks:
            await marks.mark(source)
            async with self._snapshot_slot(request, writer) as slot:
                # Planned only now, under the slot: the wait for it has no bound, and a plan made before it could
                # read a node that has failed over since, record slot ranges from before a reshard, or dial a Pod
                # IP given to another Pod meanwhile.
                if slot.waited:
                    source = await self._resolve(request, writer)
                    await marks.mark(source)
                async with self.kubernetes.connection(request.namespace, request.spec) as connection:
                    planned = await plan_snapshot(source, request.namespace, connection, self.timeouts)
                    await writer.apply(mark_planned(writer.status, planned.described(source)))
                    self.metrics.snapshots_started.inc()
                    manifest = await take_snapshot(
                        planned.plan,
                        store,
                        request.location,
                        connection,
                        progress=slot.progress,
                        timeouts=self.timeouts,
                        tags=request.spec.get("tags") or {},
                        progress_interval=self.limits.progress_interval_seconds,
                        budget=self.stream_budget,
                        attempt=attempt,
                        abandoned=marks.abandoned,
                    )
        await self._finish(request, writer, manifest, store, storage, source, planned.automatic_failover, slot.started)

    async def _copy(self, request: BackupRequest, writer: StatusWriter, store: ObjectStore, storage: str) -> None:
        """spec.sourceSnapshotName: copy that available snapshot's objects into this RedisBackup's (workflows.copy)."""
        name = str(request.spec["sourceSnapshotName"])
        async with contextlib.AsyncExitStack() as leases:

            async def lease(storage: str) -> ObjectStore:
                return await leases.enter_async_context(self.stores.lease(storage))

            async with self._snapshot_slot(request, writer) as slot:
                # Under the slot, as a snapshot's plan: the source may have been deleted while this copy queued.
                source = await find_copy_source(self.kubernetes, lease, request.namespace, name)
                await writer.apply(mark_planned(writer.status, source.planned_fields(storage)))
                manifest = await copy_snapshot(
                    source.store,
                    source.manifest,
                    store,
                    request.location,
                    tags=request.spec.get("tags") or {},
                    progress=slot.progress,
                )
        await self._finish(
            request, writer, manifest, store, storage, None, None, slot.started, source_status=source.status
        )

    @contextlib.asynccontextmanager
    async def _snapshot_slot(self, request: BackupRequest, writer: StatusWriter) -> AsyncIterator[SnapshotSlot]:
        """A streaming slot (limits.maxConcurrentSnapshots), progress into status, and the in-flight gauge."""
        waited = self._slots.locked()
        if waited:
            self.metrics.queued.inc()
        try:
            await self._slots.acquire()
        finally:
            if waited:
                self.metrics.queued.dec()
        try:
            progress = ProgressReporter(writer, request, self.limits.progress_interval_seconds, self.clock)
            self.metrics.in_flight.inc()
            try:
                yield SnapshotSlot(progress, time.monotonic(), waited)
            finally:
                self.metrics.in_flight.dec()
                await progress.close()
        finally:
            self._slots.release()

    async def _finish(
        self,
        request: BackupRequest,
        writer: StatusWriter,
        manifest: Manifest,
        store: ObjectStore,
        storage: str,
        source: ResolvedSource | None,
        automatic_failover: str | None,
        started: float | None,
        *,
        source_status: Mapping[str, Any] | None = None,
    ) -> None:
        self._committed.add(request.uid)
        fields = status_fields(
            manifest,
            storage=storage,
            location=f"{store.url}/{request.location.directory}",
            pods={pod.name: pod for pod in source.pods} if source else {},
            automatic_failover=automatic_failover,
        )
        if source_status is not None:  # a copy describes what its source described
            fields = copied_fields(source_status, fields)
        self.metrics.backups.labels(result="available").inc()
        self.metrics.bytes.inc(manifest.total_size)
        if started is not None:
            self.metrics.duration.observe(time.monotonic() - started)
        await self._terminal(request, writer, mark_available(writer.status, fields, **self._as_of(request)))
