"""The final-snapshot finalizer and result annotation on Redis workloads (StatefulSets, Pods), through the API.

Every write carries the object's resourceVersion as a precondition (a JSON merge patch with metadata.resourceVersion):
the finalizer list is replaced as a whole, so a concurrent change by someone else must make us read again rather than
drop their finalizer. The chart's ValidatingAdmissionPolicy lets the operator change nothing else on a workload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redisbackup.domain.final_snapshot import FINAL_SNAPSHOT_FINALIZER, FINAL_SNAPSHOT_RESULT_ANNOTATION, Workload
from redisbackup.k8s import api
from redisbackup.k8s.faults import UpdateConflict

ATTEMPTS = 5


def _read(workload: Workload) -> dict[str, Any] | None:
    pod = workload.kind == "Pod"
    read: Callable[..., Any] = api.core().read_namespaced_pod if pod else api.apps().read_namespaced_stateful_set
    return api.call_or_none(f"read {workload}", read, workload.name, workload.namespace)


def _patch(workload: Workload, patch: dict[str, Any]) -> None:
    pod = workload.kind == "Pod"
    write: Callable[..., Any] = api.core().patch_namespaced_pod if pod else api.apps().patch_namespaced_stateful_set
    api.call(f"update {workload}", write, workload.name, workload.namespace, patch, _content_type=api.MERGE_PATCH)


def set_finalizer(workload: Workload, *, present: bool, result: str | None = None) -> bool:
    """Add or remove our finalizer (and, with `result`, write the result annotation in the same patch).
    False when the workload is gone (nothing left to do)."""
    for _attempt in range(ATTEMPTS):
        body = _read(workload)
        if body is None or str(body["metadata"].get("uid")) != workload.uid:
            return False
        finalizers = list(body["metadata"].get("finalizers") or [])
        wanted = [f for f in finalizers if f != FINAL_SNAPSHOT_FINALIZER] + (
            [FINAL_SNAPSHOT_FINALIZER] if present else []
        )
        metadata: dict[str, Any] = {"resourceVersion": body["metadata"]["resourceVersion"]}
        if wanted != finalizers:
            metadata["finalizers"] = wanted
        if result is not None:
            metadata["annotations"] = {FINAL_SNAPSHOT_RESULT_ANNOTATION: result}
        if len(metadata) == 1:
            return True
        try:
            _patch(workload, {"metadata": metadata})
        except UpdateConflict:
            continue  # changed since we read it: read again
        return True
    raise UpdateConflict(f"{workload} kept changing while its finalizer {FINAL_SNAPSHOT_FINALIZER} was updated")


async def update_finalizer(workload: Workload, *, present: bool, result: str | None = None) -> bool:
    return await api.in_thread(set_finalizer, workload, present=present, result=result)
