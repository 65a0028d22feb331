"""Recording that a changed spec was seen, when the change needs no work here (deletionPolicy and verify, the two
mutable fields; the verification itself is the verification task's).

GitOps tools compare status.observedGeneration with metadata.generation (kstatus: a difference is InProgress), so a
finished backup whose deletionPolicy is edited in Git must catch up, or Flux would wait on it for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redisbackup.domain.status import is_terminal, mark_observed
from redisbackup.k8s.status import FieldManager
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.request import BackupRequest


async def observe_generation(reconciler: RedisBackupReconciler, body: Mapping[str, Any]) -> None:
    request = BackupRequest(body)
    # One still being created shares the snapshot's writer: the snapshot applies observedGeneration too, and its
    # next write must carry the generation observed here, not the one it recorded before.
    if is_terminal(body.get("status")):
        writer = reconciler.kubernetes.status_writer(body, FieldManager.OBSERVER)
    else:
        writer = reconciler.writer(body)
    await writer.apply(mark_observed(writer.status, generation=request.generation))
