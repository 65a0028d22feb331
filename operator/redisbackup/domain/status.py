"""The named transitions of a RedisBackup's status: the only way the operator changes it.

    (new) ─mark_creating─► creating ─mark_available─► available
                              │  ▲ mark_waiting / mark_source_found / mark_planned / mark_progress
                              └──────mark_failed──► failed
    any ─mark_deleting─► deleting ─(mark_deletion_blocked while storage refuses)─► gone
    available ─mark_verified─► available, Verified True (or False and Stalled: the stored snapshot is bad; or
                                Unknown: no reader here understands its RDB, which says nothing against it)
              (─mark_verification_pending─► Verified Unknown while a verification is retried: the fault says why)

Each transition takes the current status (a dict, as the API returns it) and returns a `StatusChange`: what it
sets — the conditions it names and its fields, which its writer applies server-side under its own field manager, so
that what other writers set stays — and the Kubernetes Event that reports it (`domain.conditions` keeps the
conditions by the Kubernetes convention). `available` and `failed` are terminal: the operator never takes such a
snapshot again (CloudNativePG treats its completed and failed backups the same way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from redisbackup.api.status import ConditionType, Phase, VerificationResult
from redisbackup.domain.conditions import (
    ConditionValue,
    Notice,
    Status,
    StatusChange,
    change,
    conditions,
    find,
    newest_generation,
    observed,
)
from redisbackup.domain.faults import RedisBackupError

FORCE_DELETE_ANNOTATION = "redisbackup.io/force-delete"
TERMINAL_PHASES = frozenset({Phase.AVAILABLE, Phase.FAILED})

# The status fields that record when a wait began (its deadline counts from there): one per kind of wait.
SOURCE_MISSING_SINCE = "sourceMissingSince"  # the source (or a Secret) missing, or its Pod not Ready
BUSY_SINCE = "busySince"  # a Redis node that cannot serve a snapshot yet (loading …)
WAITS = (SOURCE_MISSING_SINCE, BUSY_SINCE)

# Reasons of our own, for states that are not faults (faults use their code as the reason).
CREATING = "Creating"
AVAILABLE = "Available"
DELETING = "Deleting"


def phase_of(status: Status | None) -> Phase | None:
    value = (status or {}).get("phase")
    return Phase(value) if isinstance(value, str) and value in Phase._value2member_map_ else None


def is_terminal(status: Status | None) -> bool:
    return phase_of(status) in TERMINAL_PHASES


def mark_observed(status: Status | None, *, generation: int | None) -> StatusChange:
    """The spec changed where it may (deletionPolicy, verify): record that this generation is seen, without other
    news (a verification asked for has its own transition, mark_verified)."""
    if generation is None or not status or status.get("observedGeneration") == generation:
        return StatusChange()
    return change(status, {"observedGeneration": generation, "conditions": observed(status, generation)}, None)


def _source(source_field: str, source_id: str) -> dict[str, Any]:
    if source_field.endswith("sourceSnapshotName"):  # a copy: the source's ids come with its manifest
        return {"source": source_id, "cacheClusterId": None, "replicationGroupId": None}
    cluster = source_field.endswith("replicationGroupId")
    return {
        "source": source_id,
        "cacheClusterId": None if cluster else source_id,
        "replicationGroupId": source_id if cluster else None,
    }


# ---------------------------------------------------------------------------------------------- creating
def mark_creating(
    status: Status | None,
    *,
    snapshot_name: str,
    source_field: str,
    source_id: str,
    storage: str,
    generation: int | None,
    now: dt.datetime,
    snapshot_source: str = "manual",
) -> StatusChange:
    """A new snapshot is accepted: phase creating (ElastiCache's first SnapshotStatus). `snapshot_source` is
    decided once, here (domain.automated.snapshot_source), and kept."""
    message = f'taking snapshot "{snapshot_name}" of {source_field} "{source_id}" into storage location "{storage}"'
    patch = {
        "phase": Phase.CREATING.value,
        "snapshotSource": (status or {}).get("snapshotSource") or snapshot_source,
        "observedGeneration": newest_generation(status, generation),
        **_source(source_field, source_id),
        "storage": storage,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", CREATING, "the snapshot is being taken"),
            (ConditionType.PROGRESSING, "True", CREATING, message),
            (ConditionType.FAILED, "False", CREATING, "no failure"),
            (ConditionType.RECONCILING, "True", CREATING, message),
        ),
    }
    return change(status, patch, Notice("Normal", CREATING, message[0].upper() + message[1:]))


def waiting_since(status: Status | None, wait: str) -> dt.datetime | None:
    """When the wait `wait` (one of WAITS) began, as recorded in status; None when it is not going on."""
    value = (status or {}).get(wait)
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mark_waiting(
    status: Status | None,
    fault: RedisBackupError,
    *,
    generation: int | None,
    now: dt.datetime,
    waiting: tuple[str, dt.datetime] | None = None,
) -> StatusChange:
    """Still creating, but held up (source missing or busy, Redis unreachable …): the fault says why.

    `waiting`: the wait this is part of (one of WAITS) and when it began, recorded so that its deadline survives a
    restart; any other wait is over."""
    patch: dict[str, Any] = {
        wait: _stamp(waiting[1]) if waiting is not None and waiting[0] == wait else None for wait in WAITS
    }
    patch |= {
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", str(fault.code), "the snapshot is not taken yet"),
            (ConditionType.PROGRESSING, "True", str(fault.code), fault.message),
            (ConditionType.RECONCILING, "True", str(fault.code), fault.message),
        )
    }
    return change(status, patch, Notice("Warning", str(fault.code), fault.message))


def mark_progress(
    status: Status | None, *, bytes_done: int, bytes_total: int | None, generation: int | None, now: dt.datetime
) -> StatusChange:
    """Bytes streamed so far; a Progressing condition left by a wait goes back to Creating."""
    patch: dict[str, Any] = {"progress": {"bytesDone": bytes_done, "bytesTotal": bytes_total}}
    progressing = find(status, ConditionType.PROGRESSING)
    if progressing is not None and progressing.get("reason") != CREATING:
        patch["conditions"] = conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", CREATING, "the snapshot is being taken"),
            (ConditionType.PROGRESSING, "True", CREATING, "streaming the RDB to storage"),
            (ConditionType.RECONCILING, "True", CREATING, "streaming the RDB to storage"),
        )
    return change(status, patch, None)


def mark_source_found(status: Status | None, *, generation: int | None, now: dt.datetime) -> StatusChange:
    """The source waited for is there (again): that wait is over, and its deadline will count afresh should the
    source go missing later (a Pod briefly not Ready after the backup queued for an hour is a new wait)."""
    if waiting_since(status, SOURCE_MISSING_SINCE) is None:
        return StatusChange()
    message = "the source is found; the snapshot is taken in its turn"
    patch = {
        SOURCE_MISSING_SINCE: None,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", CREATING, "the snapshot is being taken"),
            (ConditionType.PROGRESSING, "True", CREATING, message),
            (ConditionType.RECONCILING, "True", CREATING, message),
        ),
    }
    return change(status, patch, None)


def mark_planned(status: Status | None, fields: Mapping[str, Any]) -> StatusChange:
    """Still creating; the nodes to read are chosen: engine, port and node snapshots (without sizes yet). The
    source was found to be planned: a wait for it is over."""
    planned = {key: value for key, value in fields.items() if value is not None}
    return change(status, {**planned, SOURCE_MISSING_SINCE: None}, None)


def mark_available(
    status: Status | None, fields: Mapping[str, Any], *, generation: int | None, now: dt.datetime
) -> StatusChange:
    """The manifest is committed: phase available, Ready=True, and the ElastiCache-shaped `fields`."""
    size = fields.get("size") or "?"
    nodes = fields.get("numNodeGroups") or fields.get("numCacheNodes") or 0
    what = "shard" if fields.get("numNodeGroups") else "node"
    message = f"snapshot is available: {nodes} {what}{'s' if nodes != 1 else ''}, {size}, at {fields.get('location')}"
    patch = {
        **fields,
        "phase": Phase.AVAILABLE.value,
        "observedGeneration": newest_generation(status, generation),
        "progress": None,
        **dict.fromkeys(WAITS),
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "True", AVAILABLE, message),
            (ConditionType.PROGRESSING, "False", AVAILABLE, "the snapshot is complete"),
            (ConditionType.FAILED, "False", AVAILABLE, "no failure"),
            (ConditionType.RECONCILING, "False", AVAILABLE, "the snapshot is complete"),
        ),
    }
    return change(status, patch, Notice("Normal", AVAILABLE, message[0].upper() + message[1:]))


def mark_failed(
    status: Status | None, fault: RedisBackupError, *, generation: int | None, now: dt.datetime
) -> StatusChange:
    """Terminal failure: the fault code is the reason of Failed, Ready and Progressing."""
    code = str(fault.code)
    patch = {
        "phase": Phase.FAILED.value,
        "observedGeneration": newest_generation(status, generation),
        "progress": None,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", code, "the snapshot failed"),
            (ConditionType.PROGRESSING, "False", code, "the snapshot will not be retried"),
            (ConditionType.FAILED, "True", code, fault.message),
            (ConditionType.RECONCILING, "False", code, "the snapshot will not be retried"),
            (ConditionType.STALLED, "True", code, fault.message),
        ),
    }
    return change(status, patch, Notice("Warning", code, f"Snapshot failed: {fault.message}"))


# ---------------------------------------------------------------------------------------------- deletion
def mark_deleting(
    status: Status | None, *, deletion_policy: str, location: str | None, generation: int | None, now: dt.datetime
) -> StatusChange:
    where = f" at {location}" if location else ""
    if deletion_policy == "Retain":
        message = f"the RedisBackup is being deleted; deletionPolicy Retain keeps the stored snapshot{where}"
    else:
        message = f"the RedisBackup is being deleted; deletionPolicy Delete removes the stored snapshot{where}"
    patch = {
        "phase": Phase.DELETING.value,
        "conditions": conditions(
            status,
            generation,
            now,
            (ConditionType.READY, "False", DELETING, message),
            (ConditionType.PROGRESSING, "True", DELETING, message),
            (ConditionType.RECONCILING, "True", DELETING, message),
        ),
    }
    return change(status, patch, Notice("Normal", DELETING, message[0].upper() + message[1:]))


def mark_deletion_blocked(
    status: Status | None, fault: RedisBackupError, *, generation: int | None, now: dt.datetime
) -> StatusChange:
    """Storage refuses to delete: keep the finalizer, say why, and how to give up on the data."""
    message = (
        f"{fault.message}. The stored snapshot must be deleted before the RedisBackup can go; it is retried with "
        f'backoff. To give up on the stored data, annotate the RedisBackup {FORCE_DELETE_ANNOTATION}="true"'
    )
    patch = {
        "phase": Phase.DELETING.value,
        "conditions": conditions(
            status, generation, now, (ConditionType.DELETION_BLOCKED, "True", str(fault.code), message)
        ),
    }
    return change(status, patch, Notice("Warning", "DeletionBlocked", message))


def deletion_notice(deletion_policy: str, *, removed: int, location: str | None, forced: bool) -> Notice:
    """The last word on a RedisBackup about to disappear (there is no status left to write)."""
    where = location or "its storage location"
    if forced:
        return Notice(
            "Warning",
            "ForceDeleted",
            f"{FORCE_DELETE_ANNOTATION} is set: the RedisBackup is released without deleting the stored snapshot "
            f"at {where}; remove those objects by hand if they remain",
        )
    if deletion_policy == "Retain":
        return Notice("Normal", "Retained", f"deletionPolicy Retain: the stored snapshot stays at {where}")
    return Notice("Normal", "Deleted", f"deleted {removed} stored object(s) of the snapshot at {where}")


# ---------------------------------------------------------------------------------------------- verification
def mark_verification_pending(
    status: Status | None, fault: RedisBackupError, *, generation: int | None, now: dt.datetime
) -> StatusChange:
    """A verification could not be done yet (storage unreachable …) and is retried: Verified is Unknown, with the
    fault's code as reason, until a verdict replaces it."""
    code = str(fault.code)
    patch = {
        "conditions": conditions(status, generation, now, (ConditionType.VERIFIED, "Unknown", code, fault.message))
    }
    return change(status, patch, Notice("Warning", code, f"Verification not done yet: {fault.message}"))


VERIFIED = "Verified"


def mark_verified(
    status: Status | None,
    verification: Mapping[str, Any],
    *,
    result: VerificationResult,
    reason: str | None,
    message: str,
    generation: int | None,
    now: dt.datetime,
) -> StatusChange:
    """A verification finished: status.verification, and the Verified condition (False with the fault's code as
    reason when it failed: never silent). The phase stays available: the snapshot exists, the condition says
    whether it can be trusted. A failed verification is also Stalled (failed for good), so that Flux (kstatus) does
    not call the backup Current; a later one that passes lifts it. An Unknown one (no local reader understands the
    RDB's version, e.g. VerifierTooOld) is Verified=Unknown with that reason: no verdict, so Stalled is untouched."""
    passed = result == "Passed"
    verdicts: dict[str, ConditionValue] = {"Passed": "True", "Failed": "False", "Unknown": "Unknown"}
    verdict = verdicts[result]
    cause = VERIFIED if passed else (reason or ("VerificationFailed" if result == "Failed" else "VerificationUnknown"))
    wanted: list[tuple[ConditionType, ConditionValue, str, str]] = [(ConditionType.VERIFIED, verdict, cause, message)]
    if result == "Failed":
        wanted.append((ConditionType.STALLED, "True", cause, message))
    elif passed and find(status, ConditionType.STALLED) is not None:
        wanted.append((ConditionType.STALLED, "False", VERIFIED, "the stored snapshot passed its verification"))
    patch = {
        "verification": dict(verification),
        # The verification answers the spec as it is now (spec.verify may just have been set: a new generation).
        "observedGeneration": newest_generation(status, generation),
        "conditions": conditions(status, generation, now, *wanted),
    }
    notice = Notice("Normal" if passed else "Warning", cause, message[0].upper() + message[1:])
    return change(status, patch, notice)
