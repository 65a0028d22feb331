"""The `redisbackup.io/snapshotting` annotation: the source shows it is being snapshotted, and by which backup.

ElastiCache shows a cluster as "snapshotting" while a snapshot runs and takes one snapshot of it at a time; this
annotation is the same thing on the Redis workload (a StatefulSet, or a bare Pod), visible with kubectl and
shared by every operator instance. It is written with the object's resourceVersion as a precondition, so two
writers can never both believe they hold it.

A hold names the RedisBackup (name and uid) and, in `redisbackup.io/snapshotting-lease`, the operator process and
attempt holding it, with a lease the holder renews while it streams (`renew`). Holds of another RedisBackup are
taken over when that backup is gone, was re-created (another uid), is being deleted, or has finished (available
or failed); one still creating keeps its hold (its operator resumes it). A hold of the *same* RedisBackup is ours
only if this process's very attempt took it: another process's — the old Pod of a rolling update, still cleaning
up — is respected while that process lives (k8s.locks is told how to see that) or, when it cannot be seen, while its
lease is fresh; a hold of a process that is gone is taken over, and reported (`Marking.replaced`) so the attempt
it left behind can be removed from storage.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.faults import FaultCode
from redisbackup.api.resource import PLURAL
from redisbackup.domain.pods import SNAPSHOTTING_ANNOTATION, Workload
from redisbackup.domain.status import is_terminal
from redisbackup.k8s import api
from redisbackup.k8s.api import Client
from redisbackup.k8s.faults import ObjectNotFound, UpdateConflict

log = logging.getLogger(__name__)

ANNOTATION = SNAPSHOTTING_ANNOTATION
UID_ANNOTATION = "redisbackup.io/snapshotting-uid"
LEASE_ANNOTATION = "redisbackup.io/snapshotting-lease"
ATTEMPTS = 5
LEASE_SECONDS = 60.0  # a holder that cannot be seen is gone when it has not renewed for this long
RENEW_SECONDS = LEASE_SECONDS / 3

# Whether the process named by an identity runs: True, False, or None when this process cannot see it.
ProcessCheck = Callable[[str], bool | None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Holder:
    """The RedisBackup snapshotting a workload, and (when known) the operator process and attempt doing it."""

    name: str
    uid: str
    namespace: str = ""  # the RedisBackup's; empty: the workload's own
    process: str = ""  # local.process_identity of the operator process; empty: written before holds named one
    attempt: str = ""
    renewed: dt.datetime | None = None

    def annotation(self, workload_namespace: str) -> str:
        """`name`, or `namespace/name` for a RedisBackup of another namespace (spec.sourceNamespace)."""
        return self.name if self.namespace in ("", workload_namespace) else f"{self.namespace}/{self.name}"

    def lease(self, now: dt.datetime) -> str:
        return json.dumps(
            {
                "holderIdentity": self.process,
                "attempt": self.attempt,
                "renewTime": _time(now),
                "leaseDurationSeconds": LEASE_SECONDS,
            },
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, value: str, uid: str, workload_namespace: str, lease: str = "") -> Holder:
        namespace, _, name = value.rpartition("/")
        process, attempt, renewed = "", "", None
        try:
            held = json.loads(lease) if lease else {}
            process, attempt = str(held.get("holderIdentity") or ""), str(held.get("attempt") or "")
            renewed = dt.datetime.fromisoformat(str(held["renewTime"]).replace("Z", "+00:00"))
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # no lease, or a damaged one: a hold without a process, as holds were before leases
        return cls(name, uid, namespace or workload_namespace, process, attempt, renewed)

    def same_backup(self, other: Holder, workload_namespace: str) -> bool:
        def key(holder: Holder) -> tuple[str, str, str]:
            return holder.namespace or workload_namespace, holder.name, holder.uid

        return key(self) == key(other)

    def same(self, other: Holder, workload_namespace: str) -> bool:
        """The same backup, process and attempt."""
        return self.same_backup(other, workload_namespace) and (self.process, self.attempt) == (
            other.process,
            other.attempt,
        )


@dataclass(frozen=True)
class Marking:
    """What marking a workload found: `held_by` a live holder (the mark is not ours), or the mark is ours — and
    `replaced` the hold of another attempt of the same backup whose process is gone, if there was one."""

    held_by: Holder | None = None
    replaced: Holder | None = None


class LockConflict(UpdateConflict):
    """The workload kept changing while we marked it: a transient fault, retried (and counted) like any other."""

    code = FaultCode.INVALID_CACHE_CLUSTER_STATE


class SnapshotLocks:
    """Acquire/renew/release the annotation on workloads (synchronous; run them with `api.in_thread`).

    `process_check`: whether the operator process named in a hold runs (local.process_identity.is_running);
    `clock`: the time leases are written and judged with."""

    def __init__(
        self,
        client: Client | None = None,
        *,
        process_check: ProcessCheck = lambda identity: None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._client = client
        self._process_check = process_check
        self._clock = clock

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

    def _process_is_live(self, holder: Holder) -> bool:
        """Whether the operator process of a hold of our own backup still runs: seen directly when it can be,
        else judged by its lease."""
        seen = self._process_check(holder.process)
        if seen is not None:
            return seen
        if holder.renewed is None:
            return False
        return (self._clock() - holder.renewed).total_seconds() < LEASE_SECONDS

    @staticmethod
    def _current(body: dict[str, Any], namespace: str) -> Holder | None:
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(ANNOTATION)
        if value is None:
            return None
        return Holder.parse(
            value, annotations.get(UID_ANNOTATION, ""), namespace, annotations.get(LEASE_ANNOTATION, "")
        )

    def _write(self, namespace: str, workload: Workload, body: dict[str, Any], holder: Holder | None) -> None:
        annotations: dict[str, str | None] = {ANNOTATION: None, UID_ANNOTATION: None, LEASE_ANNOTATION: None}
        if holder is not None:
            annotations = {
                ANNOTATION: holder.annotation(namespace),
                UID_ANNOTATION: holder.uid,
                LEASE_ANNOTATION: holder.lease(self._clock()) if holder.process else None,
            }
        version = (body.get("metadata") or {}).get("resourceVersion")
        self._patch(namespace, workload, {"metadata": {"resourceVersion": version, "annotations": annotations}})

    def _verdict(self, namespace: str, workload: Workload, current: Holder, ours: Holder) -> Marking | None:
        """None: `current` may be replaced by `ours`; else what to report (someone else's live hold, or ours)."""
        if not current.same_backup(ours, namespace):
            if self._holder_is_live(current):
                return Marking(held_by=current)
            log.info("taking over %s from %s in %s: that snapshot is no longer running", workload, current, namespace)
            return None
        if current.same(ours, namespace):
            return Marking()
        if current.process and current.process != ours.process and self._process_is_live(current):
            return Marking(held_by=current)  # another operator process is still at this very backup
        return None

    def acquire(self, namespace: str, workload: Workload, ours: Holder) -> Marking:
        """Take the annotation (or find it is ours already); `held_by` the live holder when it is someone else's."""
        for _attempt in range(ATTEMPTS):
            body = self._read(namespace, workload)
            if body is None:
                return Marking()  # nothing to mark; resolution will notice the source has gone
            current = self._current(body, namespace)
            replaced = None
            if current is not None:
                verdict = self._verdict(namespace, workload, current, ours)
                if verdict is not None:
                    return verdict
                if current.same_backup(ours, namespace) and current.process:
                    replaced = current
                    log.info(
                        "taking over %s in %s from attempt %s of process %s: that process is gone",
                        workload,
                        namespace,
                        current.attempt,
                        current.process,
                    )
            try:
                self._write(namespace, workload, body, ours)
            except UpdateConflict:
                continue  # changed since we read it: look again
            except ObjectNotFound:
                return Marking()
            return Marking(replaced=replaced)
        raise LockConflict(f"{workload} in {namespace} kept changing while marking it as snapshotting")

    def renew(self, namespace: str, workload: Workload, ours: Holder) -> bool:
        """Renew our lease on the annotation; False when it is no longer ours (taken over, or removed)."""
        for _attempt in range(ATTEMPTS):
            body = self._read(namespace, workload)
            current = None if body is None else self._current(body, namespace)
            if body is None or current is None or not current.same(ours, namespace):
                return False
            try:
                self._write(namespace, workload, body, ours)
            except UpdateConflict:
                continue
            except ObjectNotFound:
                return False
            return True
        log.warning("could not renew %s on %s in %s: it kept changing", ANNOTATION, workload, namespace)
        return True

    def release(self, namespace: str, workload: Workload, ours: Holder) -> None:
        """Remove the annotation if (and only if) it is still ours."""
        for _attempt in range(ATTEMPTS):
            body = self._read(namespace, workload)
            if body is None:
                return
            current = self._current(body, namespace)
            if current is None or not current.same(ours, namespace):
                return
            try:
                self._write(namespace, workload, body, None)
            except UpdateConflict:
                continue
            except ObjectNotFound:
                return
            return
        log.warning("could not remove %s from %s in %s: it kept changing", ANNOTATION, workload, namespace)
