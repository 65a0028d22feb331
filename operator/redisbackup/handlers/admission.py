"""The validating admission webhook for RedisBackups and RedisBackupSchedules: ElastiCache's faults, before
anything reaches etcd.

Thin on purpose: the rules are `redisbackup.api.validation` and `redisbackup.api.schedule_validation` (shared with
`redisbackup validate` and the reconcilers), the lookup of the namespace's other RedisBackups is
`redisbackup.k8s.redisbackups`.

When the operator also reconciles, the other RedisBackups come from its index (workflows.uniqueness.BackupIndex)
once that has caught up with a consistent count from the apiserver: a list of the whole namespace per admission
would cost O(n) per create, O(n²) for a namespace of n backups. Without the index (a webhook-only operator), or
when it lags behind, the namespace is listed.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSequence
from typing import Any

import kopf

from redisbackup.api import schedule_validation, validation
from redisbackup.api.faults import FaultCode
from redisbackup.api.validation import ExistingBackup
from redisbackup.api.violations import Violation
from redisbackup.k8s import redisbackups
from redisbackup.k8s.webhook_configuration import BACKUP_WEBHOOK, SCHEDULE_WEBHOOK
from redisbackup.workflows.uniqueness import BackupIndex, index_caught_up

INDEX_PATIENCE = 1.0  # of the webhook's 5 s: then the namespace is listed instead
# The webhook serves while the operator's first listing of RedisBackups is still running (handlers.backups): a
# request that comes meanwhile waits for it this long (the apiserver gives the webhook 10 s), and is refused (503,
# try again) if it is still running then. Never a list of the namespace instead: at 10,000 RedisBackups each such
# list beside the listing slowed it down, more requests timed out into more lists, and a restart took 25 s.
LISTING_PATIENCE = 6.0


class IndexStarting(Exception):
    """The operator's first listing of RedisBackups is not indexed yet."""


HANDLER_ID = BACKUP_WEBHOOK.handler_id
SCHEDULE_HANDLER_ID = SCHEDULE_WEBHOOK.handler_id


async def count_backups(namespace: str) -> int:
    # The webhook's calls run on threads of their own, never behind the backups' work (k8s.api).
    return await redisbackups.count_backups(namespace, admission=True)


async def existing_backups(namespace: str) -> list[ExistingBackup]:
    return await redisbackups.existing_backups(namespace, admission=True)


def rejection(violations: list[Violation]) -> kopf.AdmissionError:
    """One admission error carrying every violation, each as `Fault: message`.

    409 Conflict when the only problem is a name already taken (as the apiserver answers AlreadyExists),
    422 Unprocessable Entity otherwise (as the apiserver answers a schema violation).
    """
    conflict = all(v.code == FaultCode.SNAPSHOT_ALREADY_EXISTS for v in violations)
    return kopf.AdmissionError("; ".join(str(v) for v in violations), code=409 if conflict else 422)


async def _from_index(namespace: str, new: Mapping[str, Any], index: BackupIndex) -> list[ExistingBackup] | None:
    """The same-name backups from the index, or None when it has not caught up with the apiserver."""
    spec = new.get("spec")
    snapshot_name = spec.get("snapshotName") if isinstance(spec, Mapping) else None
    if not isinstance(snapshot_name, str):
        return []  # no usable name: the naming rules reject it, uniqueness is not checked
    if not await index.wait_listed(LISTING_PATIENCE):
        raise IndexStarting
    peers = index.peers(namespace, snapshot_name)
    if not await index_caught_up(peers, lambda: count_backups(namespace), patience=INDEX_PATIENCE):
        return None
    return peers.same_name()


async def _existing(
    namespace: str | None, new: Mapping[str, Any] | None = None, index: BackupIndex | None = None
) -> list[ExistingBackup]:
    if not namespace:
        return []
    try:
        indexed = await _from_index(namespace, new, index) if new is not None and index is not None else None
        return indexed if indexed is not None else await existing_backups(namespace)
    except IndexStarting:
        raise kopf.AdmissionError(
            "the operator is starting: it has not listed every RedisBackup yet, which the check that "
            "spec.snapshotName is unique needs; try again in a few seconds",
            code=503,
        ) from None
    except Exception as error:
        # Fail closed, but say why and what to do: without the other backups uniqueness cannot be checked.
        raise kopf.AdmissionError(
            f"the RedisBackup webhook could not list the RedisBackups of namespace {namespace} to check that "
            f"spec.snapshotName is unique ({error.__class__.__name__}): try again; if it persists, check the "
            "operator's log and its RBAC (list redisbackups)",
            code=503,
        ) from error


async def violations_of(
    operation: str | None,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    namespace: str | None,
    index: BackupIndex | None = None,
) -> list[Violation]:
    """What the webhook refuses: every rule on CREATE, immutability and changed fields on UPDATE."""
    if operation == "CREATE" and new is not None:
        return validation.check_create(new, await _existing(namespace, new, index), namespace=namespace)
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
    index: BackupIndex | None = None,
    **_: Any,
) -> None:
    """`@kopf.on.validate` handler for RedisBackup CREATE and UPDATE; `index` when the operator reconciles too."""
    violations = await violations_of(operation, old, new, namespace, index)
    if operation == "CREATE" and new is not None:
        warnings.extend(validation.warnings(new.get("spec")))
    if violations:
        raise rejection(violations)


async def validate_schedule(
    *,
    warnings: MutableSequence[str],
    operation: str | None = None,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    **_: Any,
) -> None:
    """`@kopf.on.validate` handler for RedisBackupSchedule CREATE and UPDATE: every rule, every violation."""
    violations: list[Violation] = []
    if operation == "CREATE" and new is not None:
        violations = schedule_validation.check_schedule_create(new)
        warnings.extend(schedule_validation.schedule_warnings(new.get("spec")))
    elif operation == "UPDATE" and old is not None and new is not None:
        violations = schedule_validation.check_schedule_update(old, new)
    if violations:
        raise kopf.AdmissionError("; ".join(str(v) for v in violations), code=422)
