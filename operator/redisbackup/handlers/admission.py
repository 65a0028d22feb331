"""The validating admission webhook for RedisBackups: ElastiCache's faults, before anything reaches etcd.

Thin on purpose: the rules are `redisbackup.api.validation` (shared with `redisbackup validate` and the
reconciler), the lookup of the namespace's other RedisBackups is `redisbackup.k8s.redisbackups`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from typing import Any

import kopf

from redisbackup.api import validation
from redisbackup.api.faults import FaultCode
from redisbackup.api.validation import ExistingBackup
from redisbackup.api.violations import Violation
from redisbackup.k8s.redisbackups import existing_backups

HANDLER_ID = "validate-redisbackup"


def rejection(violations: list[Violation]) -> kopf.AdmissionError:
    """One admission error carrying every violation, each as `Fault: message`.

    409 Conflict when the only problem is a name already taken (as the apiserver answers AlreadyExists),
    422 Unprocessable Entity otherwise (as the apiserver answers a schema violation).
    """
    conflict = all(v.code == FaultCode.SNAPSHOT_ALREADY_EXISTS for v in violations)
    return kopf.AdmissionError("; ".join(str(v) for v in violations), code=409 if conflict else 422)


async def _existing(namespace: str | None) -> list[ExistingBackup]:
    if not namespace:
        return []
    try:
        return await existing_backups(namespace)
    except Exception as error:
        # Fail closed, but say why and what to do: without the other backups uniqueness cannot be checked.
        raise kopf.AdmissionError(
            f"the RedisBackup webhook could not list the RedisBackups of namespace {namespace} to check that "
            f"spec.snapshotName is unique ({error.__class__.__name__}): try again; if it persists, check the "
            "operator's log and its RBAC (list redisbackups)",
            code=503,
        ) from error


async def violations_of(
    operation: str | None, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, namespace: str | None
) -> list[Violation]:
    """What the webhook refuses: every rule on CREATE, immutability and changed fields on UPDATE."""
    if operation == "CREATE" and new is not None:
        return validation.check_create(new, await _existing(namespace), namespace=namespace)
    if operation == "UPDATE" and old is not None and new is not None:
        return validation.check_update(old, new)
    return []


async def validate_redisbackup(
    *,
    warnings: MutableSequence[str],
    operation: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    namespace: str | None = None,
    **_: Any,
) -> None:
    """`@kopf.on.validate` handler for RedisBackup CREATE and UPDATE."""
    violations = await violations_of(operation, old, new, namespace)
    if operation == "CREATE" and new is not None:
        warnings.extend(validation.warnings(new.get("spec")))
    if violations:
        raise rejection(violations)
