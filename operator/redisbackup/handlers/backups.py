"""RedisBackups are watched by our own informer (k8s.informer), not by kopf; this wires it. Thin.

- kopf handled every RedisBackup event through its per-object machinery (diff-base, progress annotations, a log
  line each): at 10,000 RedisBackups a restart kept the event loop — and the admission webhook on it — busy for
  minutes (tests/bench/test_bench_scale.py). The informer lists them in pages of 500 and watches them; each event
  goes to workflows.backup_events, which updates the index of RedisBackups (workflows.uniqueness.BackupIndex, read
  by the webhook's and the reconciler's uniqueness checks), starts and follows the work (workflows.background:
  a snapshot task for every RedisBackup that is not terminal, a verification task for those asking for one),
  records spec edits as observed, and runs the deletion behind the finalizer redisbackup.io/data.
- One informer per namespace served (`--namespace`), or one for the whole cluster. The startup handler starts them
  and returns: kopf starts the admission webhook's server (certificates, the configuration) while the first
  listing runs — at 10,000 RedisBackups both take seconds, and a restart serves after the longer of the two, not
  their sum (tests/bench/test_bench_scale.py); the listing's pages may even have been fetched while the process
  was importing (k8s.prefetch). The index is marked listed once every first listing is indexed, and the webhook's
  port opens only then (main.run: it is the chart's readiness probe), so the webhook answers with a complete
  index. (Should the listing take longer than main.WEBHOOK_PATIENCE, the port opens anyway: a request waits for
  the listing, then is refused with 503, handlers.admission.LISTING_PATIENCE. Once listed, the webhook compares the
  index with a count from the apiserver and lists the namespace while they differ.)
- Terminal RedisBackups (available, failed) get no task at all: an operator restart never re-takes a finished
  snapshot and costs one index entry for them.
- kopf's peering pauses kopf's own watchers through a toggle it keeps to itself; our informer's work follows the
  same rule through workflows.peering_gate (informers of the peering objects feed it): a paused replica
  keeps its index complete for its webhook but starts no work, and lists again when it resumes. Work in flight
  when it pauses finishes, fenced by the snapshotting lease (k8s.locks); deletions are idempotent and remove the
  finalizer under a resourceVersion precondition.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kopf

from redisbackup.domain.status import is_terminal
from redisbackup.k8s import prefetch, redisbackups
from redisbackup.k8s.api import in_admission_thread
from redisbackup.k8s.informer import Informer
from redisbackup.k8s.peering import list_peering, watch_peering
from redisbackup.workflows.background import ObjectTasks
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.backup_events import BackupEvents, holds_finalizer
from redisbackup.workflows.peering_gate import PeeringGate
from redisbackup.workflows.verification import Verifications, needs_verification

log = logging.getLogger(__name__)

STARTUP_ID = "watch-redisbackups"
CLEANUP_ID = "stop-backup-tasks"
LIST_PAGE_SIZE = prefetch.LIST_PAGE_SIZE
WATCH_TIMEOUT = 300  # the apiserver ends each watch after this long (then it is resumed): no silent stall
SYNC_PATIENCE = 120.0  # seconds after which a first listing still running is logged as late
# At start, a snapshot or verification the listing hands over waits (this long at most) until the listing is
# indexed: the uniqueness check needs the whole index anyway, and their API calls would slow the listing down
# while the webhook waits for it.
WORK_PATIENCE = 30.0
SNAPSHOT_CANCELLATION_TIMEOUT = 60.0  # cancelled at once on deletion; up to this long to abort its uploads
VERIFY_CANCELLATION_TIMEOUT = 10.0


def needs_snapshot(body: Mapping[str, Any]) -> bool:
    """Not finished, and held by our finalizer: a snapshot stores data only for a RedisBackup whose deletion will
    wait to release it (a backup deleted before the finalizer landed would otherwise leave its data behind)."""
    return holds_finalizer(body) and not is_terminal(body.get("status") or {})


def wants_verification(body: Mapping[str, Any]) -> bool:
    return needs_verification(body)


def informers(namespaces: tuple[str, ...], events: BackupEvents) -> list[Informer]:
    """One informer per namespace, or one for the whole cluster (no namespaces)."""
    scopes: list[str | None] = list(namespaces) or [None]
    return [
        Informer(
            f"RedisBackups in {scope or 'all namespaces'}",
            # The first listing's pages may have been fetched while the process was starting (k8s.prefetch).
            prefetch.lister(scope, LIST_PAGE_SIZE, functools.partial(redisbackups.list_page, scope, LIST_PAGE_SIZE)),
            functools.partial(_watch, scope),
            events,
            # The listing is what the webhook waits for at start: not behind the calls of the work it starts.
            run_in=in_admission_thread,
        )
        for scope in scopes
    ]


def _watch(scope: str | None, resource_version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
    return redisbackups.watch_backups(scope, resource_version, WATCH_TIMEOUT, stop)


@dataclass(frozen=True)
class Peering:
    """kopf's peering of this operator (main.OperatorOptions.peering, priority)."""

    name: str
    priority: int


def peering_gate(
    peering: Peering, namespaces: tuple[str, ...], watching: list[Informer]
) -> tuple[PeeringGate, list[Informer]]:
    """The gate of kopf's rule over the peering objects kopf uses (the cluster-wide one, or one per namespace), and
    the informers that feed it."""

    def relist() -> None:
        for informer in watching:
            informer.relist()

    # kopf's identity is POD_ID when set (the chart sets it), else one it generates, which cannot be known here.
    gate = PeeringGate(identity=os.environ.get("POD_ID"), priority=peering.priority, on_open=relist)
    scopes: list[str | None] = list(namespaces) or [None]
    peerings = [
        Informer(
            f"kopf peering {peering.name} in {scope or 'the cluster'}",
            functools.partial(list_peering, peering.name, scope),
            functools.partial(watch_peering, peering.name, scope),
            gate.observe,
            run_in=in_admission_thread,
        )
        for scope in scopes
    ]
    return gate, peerings


def register(
    registry: kopf.OperatorRegistry,
    reconciler: RedisBackupReconciler,
    namespaces: tuple[str, ...] = (),
    observers: Sequence[Callable[[str, Mapping[str, Any]], None]] = (),
    peering: Peering | None = None,
) -> BackupEvents:
    """Watch the RedisBackups of `namespaces` (none: all) from kopf's startup to its cleanup, with the work of
    `reconciler`, each event also to `observers`; the handler of their events (its tasks, for tests and metrics).

    No kopf handler of any kind may be registered for RedisBackups: kopf would watch them again, and — as no kopf
    handler requires its finalizer on them — remove redisbackup.io/data from every one (and release deletions at
    once). tests/unit/reconciler/test_operator_wiring.py guards it."""
    events = BackupEvents(reconciler, [snapshot_tasks(reconciler), verification_tasks(reconciler)], observers=observers)
    watching = informers(namespaces, events)
    gate, peerings = peering_gate(peering, namespaces, watching) if peering is not None else (None, [])
    if gate is not None:
        events.active = gate
    reconciler.index.expect_listing()  # the webhook waits for the first listings (handlers.admission)
    running: list[asyncio.Task[None]] = []

    async def start() -> None:
        if gate is not None:  # the peers first: a paused replica starts no work
            running.extend(asyncio.create_task(i.run(), name=i.name) for i in peerings)
            await asyncio.wait([asyncio.create_task(i.synced.wait()) for i in peerings], timeout=SYNC_PATIENCE)
            running.append(asyncio.create_task(gate.run(), name="kopf peering of the RedisBackups' work"))
        running.extend(asyncio.create_task(i.run(), name=i.name) for i in watching)
        listed = asyncio.gather(*(i.synced.wait() for i in watching))
        try:
            try:
                await asyncio.wait_for(asyncio.shield(listed), SYNC_PATIENCE)
            except TimeoutError:
                log.warning("the RedisBackups are not all listed after %gs: the webhook lists them", SYNC_PATIENCE)
                await listed
        finally:
            listed.cancel()
        reconciler.index.mark_listed()
        log.info("listed the RedisBackups: %d indexed", reconciler.index.total())

    async def watch_redisbackups(**_: Any) -> None:
        # Not awaited here: kopf starts the webhook's server only after the startup handlers (see the docstring).
        running.append(asyncio.create_task(start(), name="the first listing of RedisBackups"))

    async def stop_backup_tasks(**_: Any) -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await events.close()
        for work in events.tasks:
            await work.close()

    kopf.on.startup(registry=registry, id=STARTUP_ID)(watch_redisbackups)
    kopf.on.cleanup(registry=registry, id=CLEANUP_ID)(stop_backup_tasks)
    return events


def snapshot_tasks(reconciler: RedisBackupReconciler) -> ObjectTasks:
    async def take_snapshot(body: Mapping[str, Any]) -> None:
        await reconciler.index.wait_listed(WORK_PATIENCE)
        namespace = str((body.get("metadata") or {}).get("namespace") or "")
        peers = reconciler.index.peers(namespace, str((body.get("spec") or {}).get("snapshotName")))
        await reconciler.run(dict(body), peers)

    return ObjectTasks(
        "snapshot",
        take_snapshot,
        wanted=needs_snapshot,
        retry_delay=reconciler.retry_delay,
        backoff=reconciler.limits.retry_max_delay_seconds,
        cancellation_timeout=SNAPSHOT_CANCELLATION_TIMEOUT,
    )


def verification_tasks(reconciler: RedisBackupReconciler) -> ObjectTasks:
    verifications = Verifications(
        reconciler.stores.lease,
        reconciler.kubernetes,
        concurrency=reconciler.limits.max_concurrent_verifications,
        attempts=reconciler.limits.snapshot_attempts,
    )

    async def verify(body: Mapping[str, Any]) -> None:
        await reconciler.index.wait_listed(WORK_PATIENCE)
        await verifications.run(body)  # the live body: it follows the object while the verification runs

    return ObjectTasks(
        "verification",
        verify,
        wanted=wants_verification,
        retry_delay=reconciler.retry_delay,
        backoff=reconciler.limits.retry_max_delay_seconds,
        cancellation_timeout=VERIFY_CANCELLATION_TIMEOUT,
    )
