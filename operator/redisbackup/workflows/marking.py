"""The source's workloads marked for one snapshot attempt: marked (k8s.locks), their leases renewed while the
attempt runs, and unmarked when it ends — also when it is cancelled (its RedisBackup deleted, the operator stopping).

    async with SourceMarks(kubernetes, request, ours).held() as marks:
        await marks.mark(source)          # SourceBusy when another live holder has one of the workloads
        … marks.abandoned                 # attempts of this backup left by processes that are gone
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from redisbackup.domain.pods import Workload
from redisbackup.domain.resolution import ResolvedSource, SourceBusy
from redisbackup.k8s.locks import RENEW_SECONDS, Holder
from redisbackup.workflows.access import KubernetesAccess
from redisbackup.workflows.request import BackupRequest

log = logging.getLogger(__name__)


class SourceMarks:
    def __init__(self, kubernetes: KubernetesAccess, request: BackupRequest, ours: Holder) -> None:
        self.kubernetes, self.request, self.ours = kubernetes, request, ours
        self.namespace = ""
        self.marked: list[Workload] = []
        self.abandoned: list[str] = []  # attempt ids of this backup whose process is gone (their holds replaced)

    async def mark(self, source: ResolvedSource) -> None:
        """Mark each workload of `source` not marked yet; SourceBusy when one is held by another live holder."""
        self.namespace = source.namespace
        for workload in source.workloads:
            if workload in self.marked:
                continue
            marking = await self.kubernetes.mark(source.namespace, workload, self.ours)
            if marking.held_by is not None:
                raise SourceBusy(self._busy(workload, marking.held_by))
            self.marked.append(workload)
            if marking.replaced is not None and marking.replaced.attempt:
                self.abandoned.append(marking.replaced.attempt)

    def _busy(self, workload: Workload, holder: Holder) -> str:
        request = self.request
        if holder.same_backup(self.ours, self.namespace):
            return (
                f'{request.source_field} "{request.source_id}": {workload} is being snapshotted for this RedisBackup '
                f"by another operator process ({holder.process}, attempt {holder.attempt}; annotation "
                "redisbackup.io/snapshotting-lease); this attempt waits until that process is done or gone"
            )
        by = holder.annotation(self.namespace)
        return (
            f'{request.source_field} "{request.source_id}": {workload} is marked as being snapshotted by '
            f'RedisBackup "{by}" (annotation redisbackup.io/snapshotting); this snapshot waits its turn'
        )

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[SourceMarks]:
        """Renew the marks' leases while the block runs; remove the marks when it ends, however it ends."""
        renewing = asyncio.create_task(self._renew(RENEW_SECONDS), name=f"renew marks of {self.request.name}")
        try:
            yield self
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            for workload in reversed(self.marked):
                # Shielded: a cancelled snapshot (its RedisBackup deleted) must still unmark the source.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.kubernetes.unmark(self.namespace, workload, self.ours))

    async def _renew(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            for workload in list(self.marked):
                try:
                    if not await self.kubernetes.renew(self.namespace, workload, self.ours):
                        log.warning(
                            "%s/%s: the mark on %s is no longer this attempt's (taken over after its lease ran out?)",
                            self.request.namespace,
                            self.request.name,
                            workload,
                        )
                except Exception as error:  # the apiserver, briefly: the next round tries again
                    log.warning("%s/%s: could not renew the mark on %s: %s", self.request.namespace,
                                self.request.name, workload, error)  # fmt: skip
