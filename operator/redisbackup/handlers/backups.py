"""kopf handlers of RedisBackups: a daemon takes the snapshot, a deletion handler releases the data. Thin.

- Every watch event updates the index of RedisBackups (workflows.uniqueness.BackupIndex, no API calls) that
  the reconciler's and the webhook's uniqueness checks read, and drops managedFields from the body kopf keeps
  (one per RedisBackup, finished ones too, for its daemons; managedFields is half of each body's JSON).
  Every handler is `async`: kopf would run a `def` handler in a thread, and the state they share (the index,
  the reconciler's queues) belongs to the event loop.
- The snapshot runs in a daemon, which kopf starts for every RedisBackup that is not terminal — when it is
  created, and for each one still creating when the operator starts — and cancels when the RedisBackup is
  deleted (the snapshot then cleans up its partial objects). Terminal RedisBackups (available, failed) get no
  daemon at all: an operator restart never re-takes a finished snapshot and costs nothing for them.
- spec.verify: a second daemon, for available RedisBackups that ask for verification and have none recorded yet,
  verifies the stored snapshot once (workflows.verification) and ends.
- An edit of the spec where it may change (deletionPolicy, verify) is recorded as observed (workflows.observation),
  so that GitOps tools comparing observedGeneration with generation see the backup as current again.
- Faults map onto kopf's retry policy in one place: what a workflow raises is a typed fault it has already told
  in the status (Progressing, DeletionBlocked, Verified) and an Event, and kopf retries it after the reconciler's
  delay (TemporaryError); permanent ones were already written as `failed` by the workflow. An exception that is
  not a fault is a bug the workflows have turned into InternalFailure; it is never only logged.
"""

from __future__ import annotations

from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.status import is_terminal
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.deletion import release_backup
from redisbackup.workflows.observation import observe_generation
from redisbackup.workflows.verification import Verifications, needs_verification

INDEX_ID = "index-redisbackups"
DAEMON_ID = "take-snapshot"
DELETE_ID = "release-snapshot-data"
OBSERVE_ID = "observe-spec-edit"
VERIFY_ID = "verify-snapshot"


def needs_snapshot(status: kopf.Status, **_: Any) -> bool:
    return not is_terminal(status)


def wants_verification(body: kopf.Body, **_: Any) -> bool:
    return needs_verification(body)


def forget_managed_fields(body: kopf.Body) -> None:
    """Drop metadata.managedFields from the body kopf keeps of a RedisBackup (in place).

    kopf keeps the last body of every object of a resource that has daemons — also of the finished backups whose
    daemons never start — for as long as the object lives; managedFields (the apiserver's server-side-apply
    bookkeeping, which nothing here reads) is about half of each body. Every watch event brings a new body: this
    runs on each, among the watching handlers, before kopf files the body away.
    """
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)


def _retry(reconciler: RedisBackupReconciler, fault: RedisBackupError, retry: int) -> kopf.TemporaryError:
    return kopf.TemporaryError(str(fault), delay=reconciler.retry_delay(retry, fault))


def register(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    """Add the RedisBackup handlers to `registry`, bound to `reconciler` (the workflows and their limits)."""
    _register_index(registry, reconciler)
    _register_snapshot(registry, reconciler)
    _register_spec_edit(registry, reconciler)
    _register_verification(registry, reconciler)
    _register_release(registry, reconciler)


def _register_index(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    # Async on purpose, as every handler here: kopf runs a `def` handler in a thread, and the index is read on the
    # event loop (the webhook, the reconciler) without a lock, so it must only ever change on the loop as well.
    @kopf.on.event(GROUP, VERSION, PLURAL, id=INDEX_ID, registry=registry)
    async def index_redisbackups(type: str | None, body: kopf.Body, **_: Any) -> None:
        reconciler.index.observe(body, deleted=type == "DELETED")
        forget_managed_fields(body)


def _register_snapshot(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    @kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        id=DAEMON_ID,
        when=needs_snapshot,
        backoff=reconciler.limits.retry_max_delay_seconds,
        cancellation_timeout=60.0,  # cancelled at once on deletion; up to this long to abort its uploads
        registry=registry,
    )
    async def take_snapshot(body: kopf.Body, namespace: str | None, retry: int, **_: Any) -> None:
        peers = reconciler.index.peers(namespace or "", str((body.get("spec") or {}).get("snapshotName")))
        try:
            await reconciler.run(dict(body), peers)
        except RedisBackupError as fault:
            raise _retry(reconciler, fault, retry) from fault


def _register_spec_edit(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    """The spec may change only where CEL allows it (deletionPolicy, verify): neither needs work here, but the new
    generation must be observed (a verification asked for is the verify daemon's)."""

    @kopf.on.update(GROUP, VERSION, PLURAL, id=OBSERVE_ID, field="spec", registry=registry)
    async def observe_spec_edit(body: kopf.Body, **_: Any) -> None:
        await observe_generation(reconciler, dict(body))


def _register_verification(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    verifications = Verifications(
        reconciler.stores.lease,
        reconciler.kubernetes,
        concurrency=reconciler.limits.max_concurrent_verifications,
        attempts=reconciler.limits.snapshot_attempts,
    )

    @kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        id=VERIFY_ID,
        when=wants_verification,
        backoff=reconciler.limits.retry_max_delay_seconds,
        cancellation_timeout=10.0,
        registry=registry,
    )
    async def verify_snapshot(body: kopf.Body, retry: int, **_: Any) -> None:
        try:
            await verifications.run(body)  # the live body: it follows the object while the verification runs
        except RedisBackupError as fault:
            raise _retry(reconciler, fault, retry) from fault


def _register_release(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    @kopf.on.delete(GROUP, VERSION, PLURAL, id=DELETE_ID, registry=registry)
    async def release_snapshot_data(body: kopf.Body, retry: int, **_: Any) -> None:
        try:
            await release_backup(reconciler, dict(body))
        except RedisBackupError as fault:
            raise _retry(reconciler, fault, retry) from fault
