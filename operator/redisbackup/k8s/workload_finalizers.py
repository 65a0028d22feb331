"""The final-snapshot finalizer and result annotation on Redis workloads (StatefulSets, Pods), through the API.

Every write carries the object's resourceVersion as a precondition (k8s.finalizers). The chart's
ValidatingAdmissionPolicy lets the operator change nothing else on a workload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redisbackup.domain.final_snapshot import FINAL_SNAPSHOT_FINALIZER, FINAL_SNAPSHOT_RESULT_ANNOTATION, Workload
from redisbackup.k8s import api, finalizers


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
    return finalizers.set_finalizer(
        lambda: _read(workload),
        lambda patch: _patch(workload, patch),
        uid=workload.uid,
        finalizer=FINAL_SNAPSHOT_FINALIZER,
        present=present,
        what=str(workload),
        annotations={FINAL_SNAPSHOT_RESULT_ANNOTATION: result} if result is not None else None,
    )


async def update_finalizer(workload: Workload, *, present: bool, result: str | None = None) -> bool:
    return await api.in_thread(set_finalizer, workload, present=present, result=result)
