"""A final snapshot before a Redis workload goes, as ElastiCache's DeleteCacheCluster --final-snapshot-identifier.

    metadata:
      annotations:
        redisbackup.io/final-snapshot: mycache-final          # the snapshotName to take when this is deleted
        redisbackup.io/final-snapshot-spec: '{"auth": {"secretRef": {"name": "mycache-auth", "key": "password"}}}'

On a StatefulSet or a Pod with the first annotation the operator keeps a finalizer (`redisbackup.io/final-snapshot`).
When the workload is deleted it creates a manual RedisBackup of that snapshotName (its metadata.name the same, in
lower case), waits for it, and removes the finalizer — when the backup is available, when it failed, or when the
deadline (`finalSnapshots.deadlineSeconds` after the deletion was asked) has passed: the workload is never wedged.
The outcome is an Event on the workload and the annotation `redisbackup.io/final-snapshot-result`.

The source is the workload itself: cacheClusterId for a Pod or a StatefulSet of one replica, replicationGroupId for
a StatefulSet of several (a Redis Cluster); the optional second annotation (a JSON object of RedisBackup spec
fields: auth, tls, port, storage, deletionPolicy, verify, tags, or the source to use instead) completes it. The
backup has no owner: like every manual snapshot it outlives the workload.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup import GROUP
from redisbackup.api import validation
from redisbackup.api.faults import FaultCode
from redisbackup.api.resource import API_VERSION, KIND
from redisbackup.api.violations import Violation

FINAL_SNAPSHOT_ANNOTATION = f"{GROUP}/final-snapshot"
FINAL_SNAPSHOT_SPEC_ANNOTATION = f"{GROUP}/final-snapshot-spec"
FINAL_SNAPSHOT_RESULT_ANNOTATION = f"{GROUP}/final-snapshot-result"
FINAL_SNAPSHOT_OF_ANNOTATION = f"{GROUP}/final-snapshot-of"
FINAL_SNAPSHOT_FINALIZER = f"{GROUP}/final-snapshot"
SOURCE_FIELDS = ("cacheClusterId", "replicationGroupId")


@dataclass(frozen=True)
class Workload:
    kind: str  # StatefulSet | Pod
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, kind: str, body: Mapping[str, Any]) -> Workload:
        metadata = body.get("metadata") or {}
        return cls(kind, str(metadata.get("namespace")), str(metadata.get("name")), str(metadata.get("uid")))

    @property
    def reference(self) -> str:
        """What the backup records of the workload it is the final snapshot of."""
        return f"{self.kind}/{self.name}/{self.uid}"

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _annotations(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return (body.get("metadata") or {}).get("annotations") or {}


def wanted(body: Mapping[str, Any]) -> str | None:
    """The snapshotName the workload asks for, or None."""
    name = str(_annotations(body).get(FINAL_SNAPSHOT_ANNOTATION) or "").strip()
    return name or None


def holds_finalizer(body: Mapping[str, Any]) -> bool:
    return FINAL_SNAPSHOT_FINALIZER in ((body.get("metadata") or {}).get("finalizers") or [])


def deleting(body: Mapping[str, Any]) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


def concerns(body: Mapping[str, Any]) -> bool:
    """Whether the operator has anything to do with this workload (kopf's filter)."""
    return wanted(body) is not None or holds_finalizer(body)


def deadline(body: Mapping[str, Any], seconds: float) -> dt.datetime:
    """When the workload is released whatever happened: `seconds` after its deletion was asked."""
    asked = str((body.get("metadata") or {}).get("deletionTimestamp") or "")
    since = dt.datetime.fromisoformat(asked.replace("Z", "+00:00")) if asked else dt.datetime.now(dt.UTC)
    return since + dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class FinalBackup:
    """The RedisBackup to create, or the violations that keep it from being created."""

    body: dict[str, Any]
    violations: list[Violation] = field(default_factory=list)


def _default_source(workload: Workload, body: Mapping[str, Any]) -> dict[str, str]:
    replicas = (body.get("spec") or {}).get("replicas")
    if workload.kind == "StatefulSet" and isinstance(replicas, int) and replicas > 1:
        return {"replicationGroupId": workload.name}
    return {"cacheClusterId": workload.name}


def _extra_spec(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[Violation]]:
    text = _annotations(body).get(FINAL_SNAPSHOT_SPEC_ANNOTATION)
    if not text:
        return {}, []
    try:
        extra = json.loads(str(text))
    except ValueError as error:
        extra = error
    if not isinstance(extra, dict):
        message = (
            f"the annotation {FINAL_SNAPSHOT_SPEC_ANNOTATION} is not a JSON object of RedisBackup spec fields "
            f'({extra}): write it as e.g. {{"auth": {{"secretRef": {{"name": "redis", "key": "password"}}}}}}'
        )
        return {}, [Violation(FaultCode.INVALID_PARAMETER_VALUE, FINAL_SNAPSHOT_SPEC_ANNOTATION, message)]
    return extra, []


def final_backup(workload: Workload, body: Mapping[str, Any]) -> FinalBackup:
    """The manual RedisBackup that is the workload's final snapshot, checked by RedisBackup's own rules."""
    snapshot_name = wanted(body) or ""
    extra, violations = _extra_spec(body)
    source = {k: v for k, v in extra.items() if k in SOURCE_FIELDS} or _default_source(workload, body)
    spec = {**{k: v for k, v in extra.items() if k not in SOURCE_FIELDS}, "snapshotName": snapshot_name, **source}
    backup = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": snapshot_name.lower(),
            "namespace": workload.namespace,
            "annotations": {FINAL_SNAPSHOT_OF_ANNOTATION: workload.reference},
        },
        "spec": spec,
    }
    if not violations:
        violations = validation.check_spec(spec)
    # Name the annotation, not spec.x: that is where the user wrote it.
    where = f"the annotation {FINAL_SNAPSHOT_ANNOTATION}/{FINAL_SNAPSHOT_SPEC_ANNOTATION} of {workload}: "
    return FinalBackup(backup, [Violation(v.code, v.field, where + v.message) for v in violations])


def is_final_snapshot_of(backup: Mapping[str, Any], workload: Workload) -> bool:
    """Whether an existing RedisBackup is this workload's final snapshot (one made by an earlier attempt)."""
    return _annotations(backup).get(FINAL_SNAPSHOT_OF_ANNOTATION) == workload.reference


@dataclass(frozen=True)
class Outcome:
    taken: bool
    reason: str
    message: str

    @property
    def annotation(self) -> str:
        """The value of redisbackup.io/final-snapshot-result on the workload."""
        return f"{self.reason}: {self.message}"[:1024]
