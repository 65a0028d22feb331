"""Taking a snapshot: stream each planned node's RDB through verification into the store, then commit.

    plan (which nodes) ──► per node, concurrently:  SYNC ─► RdbVerifier ─► store writer ─► commit after CRC ok
                       └─► when every node is stored: manifest.json (the commit record)

Each node's RDB is read, checked and written by a thread of its own (RdbStream.pump: N nodes use up to N cores,
at about redis-cli's CPU per byte plus the checksums'); a TLS stream is read on the event loop instead, with its
checksums in worker threads (workflows.checksums). Handshakes, commits and aborts always run on the loop.

A node's object is stored only after its CRC-64 trailer matched; any failure cancels the other nodes, aborts
their writes and deletes what this attempt stored, so a failed attempt leaves nothing behind. Each attempt writes
under keys of its own and commits by creating the manifest only if none exists (workflows.commit), so attempts of
one snapshot in two processes never delete or overwrite each other's objects. The operator and `redisbackup dump`
both call `take_snapshot`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from redisbackup import __version__
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord, SourceNode
from redisbackup.domain.plan import NodeTarget, SnapshotPlan, format_slots
from redisbackup.domain.rdb import RdbDigest, RdbVerifier
from redisbackup.domain.source import ConnectionSettings
from redisbackup.redis.connection import Timeouts
from redisbackup.redis.info import ServerInfo
from redisbackup.redis.replication import RdbStream, Transfer, open_rdb_stream
from redisbackup.storage.base import ObjectStore, ObjectWriter, StoredObject
from redisbackup.workflows.budget import StreamBudget, stream_cost
from redisbackup.workflows.checksums import verify_while
from redisbackup.workflows.commit import StoreAttempt, read_manifest, sweep
from redisbackup.workflows.progress import Progress, ProgressTracker

log = logging.getLogger(__name__)

DEFAULT_MAX_PARALLEL_NODES = 16
PROGRESS_EVERY = 4 << 20
PROGRESS_INTERVAL = 0.2  # seconds; the tracker reports at most every 0.5 s anyway


@dataclass(frozen=True)
class NodeResult:
    target: NodeTarget
    server: ServerInfo
    transfer: Transfer
    started_at: dt.datetime
    digest: RdbDigest
    stored: StoredObject


async def snapshot_node(
    target: NodeTarget,
    store: ObjectStore,
    key: str,
    connection: ConnectionSettings,
    *,
    timeouts: Timeouts | None = None,
    tracker: ProgressTracker | None = None,
) -> NodeResult:
    """Stream one node's RDB into `key`; the object exists only if the whole RDB arrived and verified."""
    async with open_rdb_stream(target.address, connection, timeouts) as stream:
        if tracker is not None:
            tracker.started(target.id, stream.size)
        verifier = RdbVerifier(target.label)
        # Exact for disk-based transfers; used_memory for diskless ones (an RDB is usually smaller than that).
        expected_size = stream.size if stream.size is not None else stream.server.used_memory
        async with store.writer(key, expected_size=expected_size) as writer:
            if stream.threadable:
                await _pump(stream, verifier, writer, target.id, tracker)
            else:  # TLS: read on the loop, the checksums in a worker thread (workflows.checksums)
                async for chunk in stream:
                    await verify_while(verifier, chunk, writer.write)
                    if tracker is not None:
                        tracker.add(target.id, len(chunk))
            digest = verifier.finish()
            stored = await writer.commit()
    log.info(
        "stored %s bytes of %s (%s RDB %d, %s) as %s",
        digest.size,
        target.label,
        digest.header.engine,
        digest.header.version,
        stream.transfer,
        key,
    )
    return NodeResult(target, stream.server, stream.transfer, stream.started_at, digest, stored)


async def _pump(
    stream: RdbStream, verifier: RdbVerifier, writer: ObjectWriter, node_id: str, tracker: ProgressTracker | None
) -> None:
    """The stream's own thread checks and stores each piece as it arrives (as `redis-cli --rdb && sha256sum` in
    one pass); progress reaches the loop every PROGRESS_EVERY bytes or PROGRESS_INTERVAL seconds, not per piece
    (a slow RDB still shows its first bytes at once)."""
    loop = asyncio.get_running_loop()
    unreported = 0
    reported_at = time.monotonic() - PROGRESS_INTERVAL

    def consume(piece: memoryview | bytes) -> None:
        nonlocal unreported, reported_at
        verifier.update(piece)
        writer.write_from_thread(piece, loop)
        unreported += len(piece)
        if tracker is not None and (
            unreported >= PROGRESS_EVERY or time.monotonic() - reported_at >= PROGRESS_INTERVAL
        ):
            loop.call_soon_threadsafe(tracker.add, node_id, unreported)
            unreported, reported_at = 0, time.monotonic()

    await stream.pump(consume)
    if tracker is not None and unreported:
        tracker.add(node_id, unreported)


async def _run_all(
    plan: SnapshotPlan,
    attempt: StoreAttempt,
    connection: ConnectionSettings,
    timeouts: Timeouts | None,
    tracker: ProgressTracker,
    max_parallel: int,
    budget: StreamBudget | None,
) -> list[NodeResult]:
    """Snapshot every node concurrently; on the first failure cancel the rest and raise that failure."""
    gate = asyncio.Semaphore(max_parallel)
    budget = budget or StreamBudget(None, max_parallel)
    cost = stream_cost(attempt.store)

    async def one(target: NodeTarget) -> NodeResult:
        async with gate, budget.stream(cost):
            key = attempt.key(target.id)
            return await snapshot_node(target, attempt.store, key, connection, timeouts=timeouts, tracker=tracker)

    tasks = [asyncio.create_task(one(t), name=f"snapshot {t.id} {t.label}") for t in plan.nodes]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        # Let cancelled nodes run their aborts (writers, connections) before anything else happens.
        await asyncio.gather(*tasks, return_exceptions=True)


def _record(result: NodeResult, plan: SnapshotPlan) -> NodeSnapshotRecord:
    target = result.target
    ids = {"node_group_id": target.id} if plan.is_cluster else {"cache_node_id": target.id}
    return NodeSnapshotRecord(
        **ids,
        slots=format_slots(target.slots) if target.slots else None,
        cache_size=str(result.digest.size),
        snapshot_create_time=result.started_at,
        object_key=result.stored.key,
        engine=result.server.engine,  # INFO's: Valkey 8 writes Redis's RDB signature, so the header cannot tell
        engine_version=result.server.engine_version,
        rdb_version=result.digest.header.version,
        rdb_format=result.digest.header.engine,
        crc64=result.digest.crc64_hex,
        crc64_verified=result.digest.checksummed,
        sha256=result.digest.sha256,
        transfer=result.transfer,
        source_node=SourceNode(
            host=target.address.host,
            port=target.address.port,
            role=target.role or result.server.role,
            name=target.name,
            cluster_node_id=target.cluster_node_id,
        ),
    )


def build_manifest(
    plan: SnapshotPlan,
    location: SnapshotLocation,
    results: list[NodeResult],
    *,
    tags: Mapping[str, str] | None = None,
    completed_at: dt.datetime | None = None,
    attempt: str | None = None,
) -> Manifest:
    first = min(results, key=lambda r: r.started_at)
    return Manifest(
        snapshot_name=location.snapshot_name,
        namespace=location.namespace,
        uid=location.uid,
        cache_cluster_id=None if plan.is_cluster else plan.source_id,
        replication_group_id=plan.source_id if plan.is_cluster else None,
        engine=first.server.engine,
        engine_version=first.server.engine_version,
        num_cache_nodes=None if plan.is_cluster else len(results),
        num_node_groups=len(results) if plan.is_cluster else None,
        snapshot_create_time=first.started_at,
        complete_time=completed_at or dt.datetime.now(dt.UTC),
        tool_version=__version__,
        node_snapshots=tuple(_record(r, plan) for r in sorted(results, key=lambda r: r.target.id)),
        tags=dict(tags or {}),
        attempt=attempt,
    )


async def take_snapshot(
    plan: SnapshotPlan,
    store: ObjectStore,
    location: SnapshotLocation,
    connection: ConnectionSettings,
    *,
    progress: Progress | None = None,
    timeouts: Timeouts | None = None,
    tags: Mapping[str, str] | None = None,
    progress_interval: float = 0.5,
    max_parallel_nodes: int = DEFAULT_MAX_PARALLEL_NODES,
    attempt: str | None = None,
    abandoned: Sequence[str] = (),
    budget: StreamBudget | None = None,
) -> Manifest:
    """Snapshot every node of `plan` into `store` under `location`; return the committed manifest.

    Idempotent per location: if this uid already has a manifest it is returned untouched (the snapshot was
    completed by an earlier attempt). `attempt`: this attempt's id (a new one if None); `abandoned`: ids of
    attempts whose process is gone, whose objects are removed first unless committed. Raises a RedisBackupError
    subclass (SnapshotFault, StorageFault…) and leaves nothing of this attempt stored on failure. `budget`
    (workflows.budget), shared by every snapshot of a process, admits each node stream when its memory fits;
    without one, at most `max_parallel_nodes` of this plan's streams run at once.
    """
    existing = await read_manifest(store, location)
    if existing is not None:
        log.info("snapshot %s already committed at %s; not taking it again", location.directory, store.url)
        await sweep(store, location, existing)
        return existing
    for dead in abandoned:
        await StoreAttempt(store, location, dead).abandon(foreign=True)
    ours = StoreAttempt(store, location, attempt) if attempt else StoreAttempt(store, location)
    tracker = ProgressTracker(progress, [t.id for t in plan.nodes], interval=progress_interval)
    try:
        results = await _run_all(plan, ours, connection, timeouts, tracker, max_parallel_nodes, budget)
        manifest = build_manifest(plan, location, results, tags=tags, attempt=ours.id)
        committed = await ours.commit(manifest)  # last: the commit record
    except BaseException:
        await ours.abandon()
        raise
    if committed.attempt != ours.id:
        await ours.abandon()
    tracker.finished()
    await sweep(store, location, committed)
    return committed


async def delete_snapshot(store: ObjectStore, location: SnapshotLocation) -> int:
    """Delete a snapshot's objects: the manifest first, so a half-deleted snapshot never looks complete; then
    everything under its uid (every attempt's objects, committed or not)."""
    await store.delete([location.manifest_key])
    return await store.delete_prefix(location.directory)
