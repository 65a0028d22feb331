"""The `redisbackup.io/snapshotting` annotation: the source shows it is being snapshotted, and by which backup.

ElastiCache shows a cluster as "snapshotting" while a snapshot runs and takes one snapshot of it at a time; this
annotation is the same thing on the Redis workload (a StatefulSet, or a bare Pod), visible with kubectl and
shared by every operator instance. It is written with the object's resourceVersion as a precondition, so two
writers can never both believe they hold it.

An annotation can outlive its holder (an operator killed mid-snapshot, a RedisBackup deleted meanwhile), so it is
taken over when the holder named in it is gone, was re-created (another uid), is being deleted, or has already
finished (available or failed). A holder that is still creating keeps it: the operator resumes that snapshot
itself, and it releases the annotation when done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.domain.pods import SNAPSHOTTING_ANNOTATION, Workload
from redisbackup.domain.status import is_terminal
from redisbackup.k8s import api
from redisbackup.k8s.api import Client
from redisbackup.k8s.faults import ObjectNotFound, UpdateConflict

log = logging.getLogger(__name__)

ANNOTATION = SNAPSHOTTING_ANNOTATION
UID_ANNOTATION = "redisbackup.io/snapshotting-uid"
ATTEMPTS = 5


@dataclass(frozen=True)
class Holder:
    """The RedisBackup snapshotting a workload."""

    name: str
    uid: str
    namespace: str = ""  # the RedisBackup's; empty: the workload's own

    def annotation(self, workload_namespace: str) -> str:
        """`name`, or `namespace/name` for a RedisBackup of another namespace (spec.sourceNamespace)."""
        return self.name if self.namespace in ("", workload_namespace) else f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, value: str, uid: str, workload_namespace: str) -> Holder:
        namespace, _, name = value.rpartition("/")
        return cls(name, uid, namespace or workload_namespace)

    def same(self, other: Holder, workload_namespace: str) -> bool:
        def key(holder: Holder) -> tuple[str, str, str]:
            return holder.namespace or workload_namespace, holder.name, holder.uid

        return key(self) == key(other)


class LockConflict(Exception):
    """The workload kept changing under us; the caller retries later."""


class SnapshotLocks:
    """Acquire/release the annotation on workloads of one namespace (synchronous; run them with `api.in_thread`)."""

    def __init__(self, client: Client | None = None) -> None:
        self._client = client

    def _read(self, namespace: str, workload: Workload) -> dict[str, Any] | None:
        read: Callable[..., Any]
        if workload.kind == "Pod":
            read = api.core(self._client).read_namespaced_pod
        else:
            read = api.apps(self._client).read_namespaced_stateful_set
        return api.call_or_none(f"read {workload} in namespace {namespace}", read, workload.name, namespace)

    def _patch(self, namespace: str, workload: Workload, patch: dict[str, Any]) -> None:
        write: Callable[..., Any]
        if workload.kind == "Pod":
            write = api.core(self._client).patch_namespaced_pod
        else:
            write = api.apps(self._client).patch_namespaced_stateful_set
        action = f"annotate {workload} in namespace {namespace}"
        api.call(action, write, workload.name, namespace, patch, _content_type=api.MERGE_PATCH)

    def _holder_is_live(self, holder: Holder) -> bool:
        """Whether the RedisBackup named in an annotation may still be snapshotting."""
        body = api.call_or_none(
            f"read RedisBackup {holder.name} in namespace {holder.namespace}",
            api.custom(self._client).get_namespaced_custom_object,
            GROUP,
            VERSION,
            holder.namespace,
            PLURAL,
            holder.name,
        )
        if body is None:
            return False
        metadata = body.get("metadata") or {}
        if (holder.uid and metadata.get("uid") != holder.uid) or metadata.get("deletionTimestamp"):
            return False
        return not is_terminal(body.get("status"))

    def acquire(self, namespace: str, workload: Workload, ours: Holder) -> Holder | None:
        """Take the annotation; None on success (or when the workload is gone), else the live holder."""
        for _attempt in range(ATTEMPTS):
            body = self._read(namespace, workload)
            if body is None:
                return None  # nothing to mark; resolution will notice the source has gone
            metadata = body.get("metadata") or {}
            annotations = metadata.get("annotations") or {}
            current = annotations.get(ANNOTATION)
            if current is not None:
                holder = Holder.parse(current, annotations.get(UID_ANNOTATION, ""), namespace)
                if holder.same(ours, namespace):
                    return None
                if self._holder_is_live(holder):
                    return holder
                log.info(
                    "taking over %s from %s in %s: that snapshot is no longer running", workload, holder, namespace
                )
            patch = {
                "metadata": {
                    "resourceVersion": metadata.get("resourceVersion"),
                    "annotations": {ANNOTATION: ours.annotation(namespace), UID_ANNOTATION: ours.uid},
                }
            }
            try:
                self._patch(namespace, workload, patch)
            except UpdateConflict:
                continue  # changed since we read it: look again
            except ObjectNotFound:
                return None
            return None
        raise LockConflict(f"{workload} in {namespace} kept changing while marking it as snapshotting")

    def release(self, namespace: str, workload: Workload, ours: Holder) -> None:
        """Remove the annotation if (and only if) it is still ours."""
        for _attempt in range(ATTEMPTS):
            body = self._read(namespace, workload)
            if body is None:
                return
            metadata = body.get("metadata") or {}
            annotations = metadata.get("annotations") or {}
            current = Holder.parse(annotations.get(ANNOTATION, ""), annotations.get(UID_ANNOTATION, ""), namespace)
            if not current.same(ours, namespace):
                return
            patch = {
                "metadata": {
                    "resourceVersion": metadata.get("resourceVersion"),
                    "annotations": {ANNOTATION: None, UID_ANNOTATION: None},
                }
            }
            try:
                self._patch(namespace, workload, patch)
            except UpdateConflict:
                continue
            except ObjectNotFound:
                return
            return
        log.warning("could not remove %s from %s in %s: it kept changing", ANNOTATION, workload, namespace)
