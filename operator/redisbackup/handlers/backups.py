"""kopf handlers of RedisBackups: one watching handler starts the work, a deletion handler releases the data. Thin.

- Every watch event updates the index of RedisBackups (workflows.uniqueness.BackupIndex, no API calls) that
  the reconciler's and the webhook's uniqueness checks read, and drops managedFields from the body (half of each
  body's JSON, which nothing here reads).
  Every handler is `async`: kopf would run a `def` handler in a thread, and the state they share (the index,
  the reconciler's queues, the running tasks) belongs to the event loop.
- The same events start the work (workflows.background.ObjectTasks), no kopf daemon: kopf keeps the body of every
  object of a resource that has daemons, finished ones included, which at 10,000 RedisBackups was most of the
  operator's memory. A snapshot task runs for every RedisBackup that is not terminal — when it is created, and for
  each one still creating when the operator starts (the initial listing's events) — and is cancelled when the
  RedisBackup is deleted (the snapshot then cleans up its partial objects). Terminal RedisBackups (available,
  failed) get no task at all: an operator restart never re-takes a finished snapshot and costs nothing for them.
- spec.verify: a second task, for available RedisBackups that ask for verification and have none recorded yet,
  verifies the stored snapshot once (workflows.verification) and ends.
- An edit of the spec where it may change (deletionPolicy, verify) is recorded as observed (workflows.observation),
  so that GitOps tools comparing observedGeneration with generation see the backup as current again.
- Faults map onto retries in one place: what a workflow raises is a typed fault it has already told in the status
  (Progressing, DeletionBlocked, Verified) and an Event; the task retries it after the reconciler's delay, and kopf
  the deletion handler (TemporaryError); permanent ones were already written as `failed` by the workflow. An
  exception that is not a fault is a bug the workflows have turned into InternalFailure; it is never only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.status import is_terminal
from redisbackup.workflows.background import ObjectTasks
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.deletion import release_backup
from redisbackup.workflows.observation import observe_generation
from redisbackup.workflows.verification import Verifications, needs_verification

log = logging.getLogger(__name__)

INDEX_ID = "index-redisbackups"
DELETE_ID = "release-snapshot-data"
OBSERVE_ID = "observe-spec-edit"
CLEANUP_ID = "stop-backup-tasks"
SNAPSHOT_CANCELLATION_TIMEOUT = 60.0  # cancelled at once on deletion; up to this long to abort its uploads
VERIFY_CANCELLATION_TIMEOUT = 10.0


def needs_snapshot(body: Mapping[str, Any]) -> bool:
    return not is_terminal(body.get("status") or {})


def wants_verification(body: Mapping[str, Any]) -> bool:
    return needs_verification(body)


def forget_managed_fields(body: kopf.Body) -> None:
    """Drop metadata.managedFields from a RedisBackup's body (in place), before anything keeps it.

    managedFields (the apiserver's server-side-apply bookkeeping, which nothing here reads) is about half of each
    body: a running snapshot or verification task keeps its object's latest body, and so does kopf while it handles
    an event (and for every object, if a daemon were ever registered for RedisBackups again).
    """
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


def _retry(reconciler: RedisBackupReconciler, fault: RedisBackupError, retry: int) -> kopf.TemporaryError:
    return kopf.TemporaryError(str(fault), delay=reconciler.retry_delay(retry, fault))


def register(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> list[ObjectTasks]:
    """Add the RedisBackup handlers to `registry`, bound to `reconciler` (the workflows and their limits); the
    tasks they start (snapshots, verifications), for tests and metrics."""
    tasks = [snapshot_tasks(reconciler), verification_tasks(reconciler)]
    _register_index(registry, reconciler, tasks)
    _register_spec_edit(registry, reconciler)
    _register_release(registry, reconciler, tasks)
    _register_cleanup(registry, tasks)
    return tasks


def snapshot_tasks(reconciler: RedisBackupReconciler) -> ObjectTasks:
    async def take_snapshot(body: Mapping[str, Any]) -> None:
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
    return ObjectTasks(
        "verification",
        verifications.run,  # the live body: it follows the object while the verification runs
        wanted=wants_verification,
        retry_delay=reconciler.retry_delay,
        backoff=reconciler.limits.retry_max_delay_seconds,
        cancellation_timeout=VERIFY_CANCELLATION_TIMEOUT,
    )


def _register_index(
    registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler, tasks: list[ObjectTasks]
) -> None:
    # Async on purpose, as every handler here: kopf runs a `def` handler in a thread, and the index is read on the
    # event loop (the webhook, the reconciler) without a lock, so it must only ever change on the loop as well.
    @kopf.on.event(GROUP, VERSION, PLURAL, id=INDEX_ID, registry=registry)
    async def index_redisbackups(type: str | None, body: kopf.Body, **_: Any) -> None:
        deleted = type == "DELETED"
        reconciler.index.observe(body, deleted=deleted)
        forget_managed_fields(body)
        raw = dict(body)
        for work in tasks:
            work.observe(raw, deleted=deleted)


def _register_spec_edit(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    """The spec may change only where CEL allows it (deletionPolicy, verify): neither needs work here, but the new
    generation must be observed (a verification asked for is the verification task's)."""

    @kopf.on.update(GROUP, VERSION, PLURAL, id=OBSERVE_ID, field="spec", registry=registry)
    async def observe_spec_edit(body: kopf.Body, **_: Any) -> None:
        await observe_generation(reconciler, dict(body))


def _register_release(
    registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler, tasks: list[ObjectTasks]
) -> None:
    @kopf.on.delete(GROUP, VERSION, PLURAL, id=DELETE_ID, registry=registry)
    async def release_snapshot_data(body: kopf.Body, retry: int, **_: Any) -> None:
        metadata = body.get("metadata", {})
        for work in tasks:  # the snapshot aborts its uploads and removes its partial objects before the data goes
            if not await work.stop(str(metadata.get("uid"))):
                log.warning(
                    "%s/%s: the cancelled %s still cleans up",
                    metadata.get("namespace"),
                    metadata.get("name"),
                    work.name,
                )
        try:
            await release_backup(reconciler, dict(body))
        except RedisBackupError as fault:
            raise _retry(reconciler, fault, retry) from fault


def _register_cleanup(registry: kopf.OperatorRegistry, tasks: list[ObjectTasks]) -> None:
    async def stop_backup_tasks(**_: Any) -> None:
        for work in tasks:
            await work.close()

    kopf.on.cleanup(registry=registry, id=CLEANUP_ID)(stop_backup_tasks)
