"""Reading a RedisBackup's status the way ElastiCache's API answers CreateSnapshot/CopySnapshot.

ElastiCache refuses a request whose source does not exist (CacheClusterNotFound …) instead of creating a snapshot
that waits; the operator, for GitOps, waits for a missing source. The CLI bridges the two: it creates the
RedisBackup, watches it until the operator has accepted it (chosen the nodes: the status has its engine and node
snapshots) or refused it (one of the faults below as the reason of a condition, or failed), and in the second
case deletes it again and reports the fault — as `aws elasticache create-snapshot` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redisbackup.api.faults import FaultCode
from redisbackup.api.status import ConditionType, Phase
from redisbackup.domain.faults import RedisBackupError

# Faults about the request itself: ElastiCache would have refused it (the operator waits, hoping for GitOps).
REFUSALS = frozenset(
    {
        FaultCode.CACHE_CLUSTER_NOT_FOUND,
        FaultCode.REPLICATION_GROUP_NOT_FOUND,
        FaultCode.INVALID_PARAMETER_COMBINATION,
        FaultCode.INVALID_PARAMETER_VALUE,
        FaultCode.SNAPSHOT_ALREADY_EXISTS,
        FaultCode.SNAPSHOT_NOT_FOUND,
        FaultCode.INVALID_SNAPSHOT_STATE,
        FaultCode.SECRET_NOT_FOUND,
        FaultCode.SOURCE_NAMESPACE_NOT_SHARED,
        FaultCode.STORAGE_LOCATION_NOT_FOUND,
    }
)


def _condition(body: Mapping[str, Any], kind: ConditionType) -> Mapping[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == kind), None)


def _fault(condition: Mapping[str, Any]) -> RedisBackupError:
    reason = str(condition.get("reason") or "")
    code = FaultCode(reason) if reason in FaultCode._value2member_map_ else FaultCode.INVALID_PARAMETER_VALUE
    return RedisBackupError(str(condition.get("message") or reason), code=code)


def phase(body: Mapping[str, Any]) -> str:
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return Phase.DELETING.value
    return str((body.get("status") or {}).get("phase") or Phase.CREATING.value)


def failure(body: Mapping[str, Any]) -> RedisBackupError | None:
    """The fault of a failed RedisBackup, else None."""
    if phase(body) != Phase.FAILED.value:
        return None
    failed = _condition(body, ConditionType.FAILED)
    return _fault(failed) if failed is not None else RedisBackupError("the snapshot failed")


def refusal(body: Mapping[str, Any]) -> RedisBackupError | None:
    """The fault ElastiCache would have answered the request with, if the operator found one."""
    if (failed := failure(body)) is not None:
        return failed
    progressing = _condition(body, ConditionType.PROGRESSING)
    if progressing is not None and progressing.get("reason") in REFUSALS:
        return _fault(progressing)
    return None


def accepted(body: Mapping[str, Any]) -> bool:
    """The operator has chosen the nodes to read (or already finished): the answer can show them."""
    status = body.get("status") or {}
    return bool(status.get("nodeSnapshots")) or phase(body) == Phase.AVAILABLE.value
