"""Recording that a changed spec was seen, when the change needs no work here (deletionPolicy and verify, the two
mutable fields; the verification itself is the verify daemon's).

GitOps tools compare status.observedGeneration with metadata.generation (kstatus: a difference is InProgress), so a
finished backup whose deletionPolicy is edited in Git must catch up, or Flux would wait on it for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redisbackup.domain import status as transitions
from redisbackup.workflows.backup import Backups
from redisbackup.workflows.request import BackupRequest


async def observe_generation(backups: Backups, body: Mapping[str, Any]) -> None:
    request = BackupRequest(body)
    if transitions.is_terminal(body.get("status")):
        writer = backups.kubernetes.status_writer(body)
    else:  # the snapshot's own writer, so that neither overwrites what the other wrote
        writer = backups.writer(body)
    await writer.apply(transitions.mark_observed(writer.status, generation=request.generation))
