"""spec.verify: the operator verifies each available RedisBackup that asks for it, once, a few at a time.

    available, spec.verify, no status.verification ─► load the manifest ─► verify_snapshot (workflows.verify)
    ─► status.verification + condition Verified (True, or False with the fault's code) + an Event

A fault that says the snapshot itself is bad is the verdict (Verified=False). A fault that only says the
verification could not be done yet (storage unreachable) is told in the Verified condition (Unknown, with the
fault's code) and an Event and raised to be retried, up to limits.snapshotAttempts times; after that, and at once
for one that will not go away by retrying (no redis-server in the operator's image), it is recorded as the
verification's result (an unexpected exception as InternalFailure), so that it is never silent. The verdict is
applied under the verifier's own field manager: the observer recording the edit of spec.verify at the same time
cannot overwrite it, nor it the observer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from redisbackup.domain.faults import InternalFailure, RedisBackupError
from redisbackup.domain.status import mark_verification_pending
from redisbackup.domain.verification import FAILED, NodeCheck, VerificationReport
from redisbackup.k8s.status import FieldManager
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


class Verifications:
    def __init__(
        self,
        stores: Callable[[str], contextlib.AbstractAsyncContextManager[ObjectStore]],
        kubernetes: KubernetesAccess,
        *,
        concurrency: int = 1,
        attempts: int = 5,
        work_dir: Path | None = None,
    ) -> None:
        self.stores = stores
        self.kubernetes = kubernetes
        self.work_dir = work_dir
        self.attempts = attempts
        self._gate = asyncio.Semaphore(concurrency)
        self._failures: dict[str, int] = {}  # by uid: verifications that could not be done yet

    async def run(self, body: Mapping[str, Any]) -> VerificationReport | None:
        """Verify and record; raise a transient fault to be retried. None when there was nothing to do."""
        if not needs_verification(body):
            return None
        metadata, status = body.get("metadata") or {}, body.get("status") or {}
        name = (body.get("spec") or {}).get("snapshotName", metadata.get("name"))
        uid = str(metadata.get("uid"))
        async with self._gate:
            try:
                async with self.stores(str(status.get("storage"))) as store:
                    manifest = await load_manifest(store, backup_location(body))
                    report = await verify_snapshot(store, manifest, work_dir=self.work_dir)
            except Exception as error:
                problem = error if isinstance(error, RedisBackupError) else InternalFailure.of(error, "verifying")
                if problem is not error:
                    log.exception("%s/%s: unexpected error while verifying", *_names(metadata))
                if problem.transient and problem.code not in VERDICTS and not self._give_up(uid, problem):
                    await self._pending(body, problem)
                    if problem is error:
                        raise
                    raise problem from error
                report = VerificationReport(
                    str(name),
                    dt.datetime.now(dt.UTC),
                    "no RDB loaded",
                    (NodeCheck(id="0001", clustered=False, result=FAILED, fault=problem),),
                )
        # The task's body is live (workflows.background): the writer starts from the object as it is now, after the
        # RDBs loaded.
        writer = self.kubernetes.status_writer(dict(body), FieldManager.VERIFIER)
        await writer.apply(verified(writer.status, report, generation=(body.get("metadata") or {}).get("generation")))
        self._failures.pop(uid, None)
        log.info("%s/%s: %s", *_names(metadata), report.summary)
        return report

    def _give_up(self, uid: str, problem: RedisBackupError) -> bool:
        self._failures[uid] = failures = self._failures.get(uid, 0) + 1
        if failures >= self.attempts:
            problem.message += f" (gave up after {failures} attempts; limits.snapshotAttempts is {self.attempts})"
            return True
        problem.message += f" (attempt {failures} of {self.attempts}, limits.snapshotAttempts: it is tried again)"
        return False

    async def _pending(self, body: Mapping[str, Any], problem: RedisBackupError) -> None:
        """Verified=Unknown with the reason, while the verification is retried (if the apiserver takes it)."""
        writer = self.kubernetes.status_writer(dict(body), FieldManager.VERIFIER)
        now = dt.datetime.now(dt.UTC)
        try:
            await writer.apply(mark_verification_pending(writer.status, problem, generation=None, now=now))
        except RedisBackupError as unwritten:
            log.warning("%s/%s: could not record %s: %s", *_names(body.get("metadata") or {}), problem.code, unwritten)


def _names(metadata: Mapping[str, Any]) -> tuple[str, str]:
    return str(metadata.get("namespace")), str(metadata.get("name"))
