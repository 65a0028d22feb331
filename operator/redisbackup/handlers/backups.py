"""kopf handlers of RedisBackups: a daemon takes the snapshot, a deletion handler releases the data. Thin.

- An index of snapshot names per namespace (kept by kopf from its watch, no API calls) feeds the reconciler's
  re-check of the uniqueness rule.
- The snapshot runs in a daemon, which kopf starts for every RedisBackup that is not terminal — when it is
  created, and for each one still creating when the operator starts — and cancels when the RedisBackup is
  deleted (the snapshot then cleans up its partial objects). Terminal RedisBackups (available, failed) get no
  daemon at all: an operator restart never re-takes a finished snapshot and costs nothing for them.
- spec.verify: a second daemon, for available RedisBackups that ask for verification and have none recorded yet,
  verifies the stored snapshot once (workflows.verification) and ends.
- Faults map onto kopf's retry policy in one place: transient → TemporaryError with backoff; permanent ones were
  already written as `failed` by the workflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.naming import resolved_identifier
from redisbackup.api.resource import PLURAL
from redisbackup.api.validation import ExistingBackup
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.status import is_terminal
from redisbackup.workflows.backup import Backups
from redisbackup.workflows.deletion import release_backup
from redisbackup.workflows.verification import Verifications, needs_verification

log = logging.getLogger(__name__)

INDEX_ID = "snapshot_names"
COUNT_INDEX_ID = "backups_per_namespace"
DAEMON_ID = "take-snapshot"
DELETE_ID = "release-snapshot-data"
VERIFY_ID = "verify-snapshot"


def snapshot_name_key(namespace: str, snapshot_name: str) -> tuple[str, str]:
    return namespace, resolved_identifier(snapshot_name)


def index_snapshot_names(
    body: kopf.Body, namespace: str | None, **_: Any
) -> dict[tuple[str, str], ExistingBackup] | None:
    existing = ExistingBackup.from_body(body)
    if existing is None or not namespace:
        return None
    return {snapshot_name_key(namespace, existing.snapshot_name): existing}


@dataclass(frozen=True)
class IndexedPeers:
    """What kopf's indexes know about the other RedisBackups of one namespace (live views)."""

    names: kopf.Index[tuple[str, str], ExistingBackup]
    per_namespace: kopf.Index[str, str]
    namespace: str
    snapshot_name: str

    def same_name(self) -> list[ExistingBackup]:
        return list(self.names.get(snapshot_name_key(self.namespace, self.snapshot_name), []))

    def indexed(self) -> int:
        return len(self.per_namespace.get(self.namespace, []))


def needs_snapshot(status: kopf.Status, **_: Any) -> bool:
    return not is_terminal(status)


def wants_verification(body: kopf.Body, **_: Any) -> bool:
    return needs_verification(body)


def _retry(backups: Backups, error: Exception, retry: int) -> kopf.TemporaryError:
    fault = error if isinstance(error, RedisBackupError) else None
    return kopf.TemporaryError(str(error), delay=backups.retry_delay(retry, fault))


def register(registry: kopf.OperatorRegistry, backups: Backups) -> None:
    """Add the RedisBackup handlers to `registry`, bound to `backups` (the workflows and their limits)."""

    @kopf.index(GROUP, VERSION, PLURAL, id=INDEX_ID, registry=registry)
    def snapshot_names(**kwargs: Any) -> dict[tuple[str, str], ExistingBackup] | None:
        return index_snapshot_names(**kwargs)

    @kopf.index(GROUP, VERSION, PLURAL, id=COUNT_INDEX_ID, registry=registry)
    def backups_per_namespace(namespace: str | None, uid: str | None, **_: Any) -> dict[str, str] | None:
        return {namespace: uid} if namespace and uid else None

    @kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        id=DAEMON_ID,
        when=needs_snapshot,
        backoff=backups.limits.retry_max_delay_seconds,
        cancellation_timeout=60.0,  # cancelled at once on deletion; up to this long to abort its uploads
        registry=registry,
    )
    async def take_snapshot(body: kopf.Body, namespace: str | None, retry: int, **kwargs: Any) -> None:
        peers = IndexedPeers(
            kwargs[INDEX_ID], kwargs[COUNT_INDEX_ID], namespace or "", str((body.get("spec") or {}).get("snapshotName"))
        )
        try:
            await backups.run(dict(body), peers)
        except RedisBackupError as fault:
            raise _retry(backups, fault, retry) from fault
        except kopf.TemporaryError:
            raise
        except Exception as error:  # the apiserver, a bug: log it fully and try again later
            log.exception("%s/%s: unexpected error while taking the snapshot", namespace, body["metadata"]["name"])
            raise _retry(backups, error, retry) from error

    verifications = Verifications(
        backups.stores.get, backups.kubernetes, concurrency=backups.limits.max_concurrent_verifications
    )

    @kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        id=VERIFY_ID,
        when=wants_verification,
        backoff=backups.limits.retry_max_delay_seconds,
        cancellation_timeout=10.0,
        registry=registry,
    )
    async def verify_snapshot(body: kopf.Body, retry: int, **_: Any) -> None:
        try:
            await verifications.run(dict(body))
        except RedisBackupError as fault:
            raise _retry(backups, fault, retry) from fault

    @kopf.on.delete(GROUP, VERSION, PLURAL, id=DELETE_ID, registry=registry)
    async def release_snapshot_data(body: kopf.Body, retry: int, **_: Any) -> None:
        try:
            await release_backup(backups, dict(body))
        except Exception as error:
            if not isinstance(error, RedisBackupError):
                log.exception("unexpected error while releasing %s", body["metadata"]["name"])
            raise _retry(backups, error, retry) from error
