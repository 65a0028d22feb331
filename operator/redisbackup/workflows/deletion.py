"""Deleting a RedisBackup: what happens to its stored snapshot before the finalizer `redisbackup.io/data` goes.

    deleting ─► deletionPolicy Delete: remove every object under <namespace>/<snapshotName>/<uid>/
            └─► deletionPolicy Retain: keep them (the manifest describes them for a later restore)
    anything fails ─► DeletionBlocked (reason = the fault's code: storage refusing, the apiserver, a bug as
                      InternalFailure), retried with backoff until it works, or until the user annotates
                      redisbackup.io/force-delete: "true" to give up on the data

Only the RedisBackup's own uid directory is touched: a re-created RedisBackup of the same snapshotName (another
uid) and a Retained snapshot never lose objects. A snapshot still streaming for this RedisBackup is cancelled
first and cleans up after itself, so nothing is uploaded behind the deletion.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redisbackup.domain.faults import InternalFailure, RedisBackupError
from redisbackup.domain.status import FORCE_DELETE_ANNOTATION, deletion_notice, mark_deleting, mark_deletion_blocked
from redisbackup.k8s.status import FieldManager
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.request import BackupRequest
from redisbackup.workflows.snapshot import delete_snapshot

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 60.0  # how long a cancelled snapshot may take to abort its uploads


def force_delete_requested(body: Mapping[str, Any]) -> bool:
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(FORCE_DELETE_ANNOTATION, "")).strip().lower() == "true"


async def release_backup(reconciler: RedisBackupReconciler, body: Mapping[str, Any]) -> None:
    """Handle the stored data of a RedisBackup being deleted; raise the fault (told in DeletionBlocked) to be
    retried."""
    request = BackupRequest(body)
    if not await reconciler.running_snapshots.wait_stopped(request.uid, CANCEL_TIMEOUT):
        log.warning("%s/%s: the cancelled snapshot is still cleaning up", request.namespace, request.name)
    reconciler.forget(request.uid)
    writer = reconciler.kubernetes.status_writer(body, FieldManager.DELETION)
    policy = str(request.spec.get("deletionPolicy") or "Delete")
    storage = writer.status.get("storage")
    location = writer.status.get("location")
    generation, now = request.generation, reconciler.clock()
    try:
        await writer.apply(
            mark_deleting(writer.status, deletion_policy=policy, location=location, generation=generation, now=now)
        )
        if force_delete_requested(body):
            writer.notify(deletion_notice(policy, removed=0, location=location, forced=True))
            reconciler.metrics.deletions.labels(result="force_deleted").inc()
            return
        if policy == "Retain" or not storage:
            # Retain keeps the data; without a recorded storage location nothing was ever stored.
            writer.notify(deletion_notice(policy, removed=0, location=location, forced=False))
            reconciler.metrics.deletions.labels(result="retained" if policy == "Retain" else "deleted").inc()
            return
        async with reconciler.stores.lease(storage) as store:
            removed = await delete_snapshot(store, request.location)
        writer.notify(deletion_notice(policy, removed=removed, location=location, forced=False))
        reconciler.metrics.deletions.labels(result="deleted").inc()
    except Exception as error:
        fault = error if isinstance(error, RedisBackupError) else InternalFailure.of(error, "deleting the snapshot")
        if fault is not error:
            log.exception("%s/%s: unexpected error while deleting the snapshot", request.namespace, request.name)
        try:
            await writer.apply(mark_deletion_blocked(writer.status, fault, generation=generation, now=now))
        except RedisBackupError as unwritten:  # the apiserver is the problem: the fault is retried all the same
            log.warning("%s/%s: could not record %s: %s", request.namespace, request.name, fault.code, unwritten)
        if fault is error:
            raise
        raise fault from error
    finally:
        reconciler.forget(request.uid)
