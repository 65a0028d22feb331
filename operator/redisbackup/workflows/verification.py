"""spec.verify: the operator verifies each available RedisBackup that asks for it, once, a few at a time.

    available, spec.verify, no status.verification ─► load the manifest ─► verify_snapshot (workflows.verify)
    ─► status.verification + condition Verified (True, or False with the fault's code) + an Event

A fault that says the snapshot itself is bad is the verdict (Verified=False). A fault that only says the
verification could not be done yet (storage unreachable) is raised to be retried; one that will not go away by
retrying (no redis-server in the operator's image) is recorded too, so that it is never silent. The verdict is
written once the generation that asked for it is observed (an edit of spec.verify is recorded by the observer
first, see `until_observed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.verification import FAILED, NodeCheck, VerificationReport
from redisbackup.storage.base import ObjectStore
from redisbackup.workflows.access import KubernetesAccess
from redisbackup.workflows.locate import backup_location
from redisbackup.workflows.restore import load_manifest
from redisbackup.workflows.verify import VERDICTS, verified, verify_snapshot

log = logging.getLogger(__name__)


def needs_verification(body: Mapping[str, Any]) -> bool:
    status = body.get("status") or {}
    return (
        bool((body.get("spec") or {}).get("verify"))
        and status.get("phase") == "available"
        and not status.get("verification")
        and not (body.get("metadata") or {}).get("deletionTimestamp")
    )


# How long a finished verification waits for the observer to record the spec edit that asked for it.
OBSERVER_GRACE_SECONDS = 30.0


def generation_observed(body: Mapping[str, Any]) -> bool:
    generation = (body.get("metadata") or {}).get("generation")
    observed = (body.get("status") or {}).get("observedGeneration")
    return not isinstance(generation, int) or (isinstance(observed, int) and observed >= generation)


async def until_observed(body: Mapping[str, Any], *, poll: float = 0.1) -> None:
    """Until `body` (kopf's live view of the object) shows its generation observed.

    An edit that sets spec.verify is recorded by the observer (workflows.observation), which writes the whole
    condition list as its event's body had it: a Verified condition written before that would be lost, so the
    verdict waits for it (bounded by the caller: if the observer never comes, the verdict is written anyway)."""
    while not generation_observed(body):  # noqa: ASYNC110 - kopf updates the live body; there is no event to await
        await asyncio.sleep(poll)


class Verifications:
    def __init__(
        self,
        stores: Callable[[str], contextlib.AbstractAsyncContextManager[ObjectStore]],
        kubernetes: KubernetesAccess,
        *,
        concurrency: int = 1,
        work_dir: Path | None = None,
    ) -> None:
        self.stores = stores
        self.kubernetes = kubernetes
        self.work_dir = work_dir
        self._gate = asyncio.Semaphore(concurrency)

    async def run(self, body: Mapping[str, Any]) -> VerificationReport | None:
        """Verify and record; raise a transient fault to be retried. None when there was nothing to do."""
        if not needs_verification(body):
            return None
        metadata, status = body.get("metadata") or {}, body.get("status") or {}
        name = (body.get("spec") or {}).get("snapshotName", metadata.get("name"))
        async with self._gate:
            try:
                async with self.stores(str(status.get("storage"))) as store:
                    manifest = await load_manifest(store, backup_location(body))
                    report = await verify_snapshot(store, manifest, work_dir=self.work_dir)
            except RedisBackupError as problem:
                if problem.transient and problem.code not in VERDICTS:
                    raise
                report = VerificationReport(
                    str(name),
                    dt.datetime.now(dt.UTC),
                    "no RDB loaded",
                    (NodeCheck(id="0001", clustered=False, result=FAILED, fault=problem),),
                )
        # kopf's daemon body is live: once the observer has recorded this generation, read it again, so that what
        # was written while the RDBs loaded is kept rather than overwritten by the conditions list.
        try:
            async with asyncio.timeout(OBSERVER_GRACE_SECONDS):
                await until_observed(body)
        except TimeoutError:
            log.warning("%s/%s: generation not observed yet; recording the verification anyway", *_names(metadata))
        writer = self.kubernetes.status_writer(dict(body))
        await writer.apply(verified(writer.status, report, generation=(body.get("metadata") or {}).get("generation")))
        log.info("%s/%s: %s", *_names(metadata), report.summary)
        return report


def _names(metadata: Mapping[str, Any]) -> tuple[str, str]:
    return str(metadata.get("namespace")), str(metadata.get("name"))
