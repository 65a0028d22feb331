"""Automated backups: which RedisBackups a schedule made, what they are called, and how they are built.

THE rule of "is this backup automated" lives here, for every face (the operator, the CLI's describe-snapshots
--snapshot-source, the ElastiCache API, the console):

    a RedisBackup is automated when its controller ownerReference is a RedisBackupSchedule (our group) AND its
    label redisbackup.io/schedule names that same schedule.

Both halves are set by the operator when it creates the backup. Metadata can be edited by anyone allowed to
update RedisBackups, so the operator decides once — when the snapshot starts — and records the answer in
status.snapshotSource (the status subresource, which only the operator writes); from then on the recorded word is
what counts (`recorded_snapshot_source`). Faking the metadata on a manual backup can only make it prunable by
that schedule (and deleted with it): nothing is gained by it. Retention goes further and touches a backup only
when all three agree: owned by the schedule's uid, labelled with its name, and recorded as automated.

Names follow ElastiCache's automatic snapshots (automatic.<cluster>-<yyyy-mm-dd-hh-mm>) within the rules of a
snapshotName (at most 20 ASCII letters, digits or hyphens) and of a Kubernetes name (lower case): the first four
letters or digits of the source, three characters from the schedule's uid (two schedules of one source differ),
and the slot's UTC time to the minute — e.g. `mynok7q-202512070300`. The name is a function of the schedule and
the slot only, so creating it twice (an operator restarted mid-run) finds the first one instead of a duplicate,
and a schedule's names sort by time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from redisbackup import GROUP
from redisbackup.api.naming import SNAPSHOT_NAME_MAX_LENGTH, resolved_identifier
from redisbackup.api.resource import API_VERSION, KIND, SCHEDULE_KIND

SCHEDULE_LABEL = f"{GROUP}/schedule"
SCHEDULED_AT_ANNOTATION = f"{GROUP}/scheduled-at"
# What ElastiCache shows of an automatic snapshot's cluster settings, copied from the schedule when the backup is made.
RETENTION_LIMIT_ANNOTATION = f"{GROUP}/snapshot-retention-limit"
SNAPSHOT_WINDOW_ANNOTATION = f"{GROUP}/snapshot-window"
SnapshotSource = Literal["automated", "manual"]
# DescribeSnapshots' SnapshotSource filter: system = automatic snapshots, user = manual ones.
ELASTICACHE_SOURCE_FILTER: dict[str, SnapshotSource] = {"system": "automated", "user": "manual"}
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SLOT_FORMAT = "%Y%m%d%H%M"


@dataclass(frozen=True)
class ScheduleOwner:
    name: str
    uid: str


def schedule_owner(body: Mapping[str, Any]) -> ScheduleOwner | None:
    """The RedisBackupSchedule that controls this RedisBackup, from its ownerReferences."""
    for reference in (body.get("metadata") or {}).get("ownerReferences") or []:
        api_version = str(reference.get("apiVersion") or "")
        if (
            reference.get("kind") == SCHEDULE_KIND
            and api_version.split("/")[0] == GROUP
            and reference.get("controller") is True
        ):
            return ScheduleOwner(str(reference.get("name") or ""), str(reference.get("uid") or ""))
    return None


def snapshot_source(body: Mapping[str, Any]) -> SnapshotSource:
    """What the metadata says: automated when owned by a schedule and labelled with its name (see above)."""
    owner = schedule_owner(body)
    labels = (body.get("metadata") or {}).get("labels") or {}
    return "automated" if owner is not None and owner.name and labels.get(SCHEDULE_LABEL) == owner.name else "manual"


def recorded_snapshot_source(body: Mapping[str, Any]) -> SnapshotSource:
    """What every face shows: the operator's recorded word (status.snapshotSource), else the metadata's."""
    recorded = (body.get("status") or {}).get("snapshotSource")
    if recorded in ("automated", "manual"):
        return "automated" if recorded == "automated" else "manual"
    return snapshot_source(body)


def is_automated(body: Mapping[str, Any]) -> bool:
    return recorded_snapshot_source(body) == "automated"


def matches_source_filter(body: Mapping[str, Any], wanted: str | None) -> bool:
    """DescribeSnapshots' SnapshotSource filter: system keeps automated backups, user keeps manual ones, None all."""
    return wanted is None or recorded_snapshot_source(body) == ELASTICACHE_SOURCE_FILTER.get(wanted)


def belongs_to(body: Mapping[str, Any], schedule_name: str, schedule_uid: str) -> bool:
    """Whether retention (and the schedule's bookkeeping) may count this backup as the schedule's own."""
    owner = schedule_owner(body)
    labels = (body.get("metadata") or {}).get("labels") or {}
    return (
        owner is not None
        and owner.uid == schedule_uid
        and labels.get(SCHEDULE_LABEL) == schedule_name
        and (body.get("status") or {}).get("snapshotSource") in (None, "automated")
    )


# ---------------------------------------------------------------------------------------------- names
def _uid_tag(uid: str, length: int = 3) -> str:
    number = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big")
    tag = ""
    for _ in range(length):
        number, digit = divmod(number, 36)
        tag += _BASE36[digit]
    return tag


def automated_snapshot_name(source_id: str, schedule_uid: str, slot: dt.datetime) -> str:
    """The snapshotName (and metadata.name) of the schedule's backup for `slot`; see the module's docstring."""
    source = "".join(c for c in resolved_identifier(source_id) if c.isascii() and c.isalnum())[:4]
    name = f"{source}{_uid_tag(schedule_uid)}-{slot.astimezone(dt.UTC).strftime(_SLOT_FORMAT)}"
    assert len(name) <= SNAPSHOT_NAME_MAX_LENGTH, name
    return name


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def slot_of(body: Mapping[str, Any]) -> dt.datetime | None:
    """The slot an automated backup was made for (its scheduled-at annotation), else when it was created."""
    metadata = body.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    return parse_time(annotations.get(SCHEDULED_AT_ANNOTATION)) or parse_time(metadata.get("creationTimestamp"))


# ---------------------------------------------------------------------------------------------- the backup itself
def automated_backup(schedule: Mapping[str, Any], slot: dt.datetime) -> dict[str, Any]:
    """The RedisBackup a schedule creates for `slot`: its template's spec, the source, owned and labelled."""
    metadata = schedule.get("metadata") or {}
    spec = schedule.get("spec") or {}
    name, uid = str(metadata.get("name")), str(metadata.get("uid"))
    source_field = "replicationGroupId" if spec.get("replicationGroupId") else "cacheClusterId"
    source_id = str(spec.get(source_field))
    snapshot_name = automated_snapshot_name(source_id, uid, slot)
    template = {key: value for key, value in (spec.get("template") or {}).items() if value is not None}
    annotations = {SCHEDULED_AT_ANNOTATION: format_time(slot)}
    if spec.get("snapshotRetentionLimit") is not None:
        annotations[RETENTION_LIMIT_ANNOTATION] = str(spec["snapshotRetentionLimit"])
    if spec.get("snapshotWindow"):
        annotations[SNAPSHOT_WINDOW_ANNOTATION] = str(spec["snapshotWindow"])
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": snapshot_name,
            "namespace": metadata.get("namespace"),
            "labels": {SCHEDULE_LABEL: name},
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": str(schedule.get("apiVersion") or API_VERSION),
                    "kind": SCHEDULE_KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    # Foreground deletion of the schedule waits for its backups (and so for their data's release).
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"snapshotName": snapshot_name, source_field: source_id, **template},
    }


def schedule_settings(body: Mapping[str, Any]) -> tuple[int, str | None]:
    """(SnapshotRetentionLimit, SnapshotWindow) as ElastiCache shows them on a snapshot: the schedule's for an
    automated backup, (0, None) for a manual one (manual snapshots are kept until deleted)."""
    if not is_automated(body):
        return 0, None
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    limit = str(annotations.get(RETENTION_LIMIT_ANNOTATION, "0"))
    window = annotations.get(SNAPSHOT_WINDOW_ANNOTATION)
    return (int(limit) if limit.isdigit() else 0), (str(window) if window else None)
