"""kopf handlers of Redis workloads (StatefulSets, Pods) for their final snapshot (workflows.final_snapshot). Thin.

Only workloads with the annotation redisbackup.io/final-snapshot, or still holding our finalizer, get past the
filter; every other Pod and StatefulSet event is dropped by kopf before any handler runs. No kopf finalizer or
progress annotation is put on workloads: the handler manages its own finalizer (redisbackup.io/final-snapshot).
"""

from __future__ import annotations

from typing import Any

import kopf

from redisbackup.domain.final_snapshot import concerns
from redisbackup.workflows.final_snapshot import FinalSnapshots

STATEFULSET_ID = "final-snapshot-statefulsets"
POD_ID = "final-snapshot-pods"


def annotated(body: kopf.Body, **_: Any) -> bool:
    return concerns(body)


def register(registry: kopf.OperatorRegistry, final_snapshots: FinalSnapshots) -> None:
    @kopf.on.event("apps", "v1", "statefulsets", id=STATEFULSET_ID, when=annotated, registry=registry)
    async def statefulset_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        if type != "DELETED":
            await final_snapshots.observe("StatefulSet", body)

    @kopf.on.event("", "v1", "pods", id=POD_ID, when=annotated, registry=registry)
    async def pod_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        if type != "DELETED":
            await final_snapshots.observe("Pod", body)

    async def stop_final_snapshots(**_: Any) -> None:
        await final_snapshots.close()

    kopf.on.cleanup(registry=registry, id="stop-final-snapshots")(stop_final_snapshots)
