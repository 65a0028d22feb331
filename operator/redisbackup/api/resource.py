"""The RedisBackup and RedisBackupSchedule objects as a whole: identity (group, version, names) and the typed models
of full bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from redisbackup import GROUP, VERSION
from redisbackup.api.schedule_spec import RedisBackupScheduleSpec
from redisbackup.api.schedule_status import RedisBackupScheduleStatus
from redisbackup.api.spec import RedisBackupSpec
from redisbackup.api.status import RedisBackupStatus

KIND = "RedisBackup"
PLURAL = "redisbackups"
DATA_FINALIZER = f"{GROUP}/data"  # held by every RedisBackup until its stored data is handled (kopf wrote it before)
SINGULAR = "redisbackup"
SHORT_NAMES = ("rb",)
CATEGORIES = ("redis", "backup")
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"


class RedisBackup(BaseModel):
    """A manual backup (snapshot) of Redis, kept until the RedisBackup is deleted, like an ElastiCache snapshot.

    The operator reads the RDB from the source named in spec (a single node, or every shard of a Redis Cluster),
    verifies it and stores it in object storage; status shows its progress and, once available, the stored
    snapshot. Deleting the source never deletes the backup.
    """

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    api_version: Literal["redisbackup.io/v1alpha1"] = Field(default="redisbackup.io/v1alpha1", alias="apiVersion")
    kind: Literal["RedisBackup"] = "RedisBackup"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: RedisBackupSpec
    status: RedisBackupStatus | None = None


def is_redisbackup(document: object) -> bool:
    """Whether a manifest document is a RedisBackup of our group (any version: they share the rules)."""
    if not isinstance(document, dict):
        return False
    api_version = document.get("apiVersion")
    return document.get("kind") == KIND and isinstance(api_version, str) and api_version.split("/")[0] == GROUP


# ---------------------------------------------------------------------------------------------- RedisBackupSchedule
SCHEDULE_KIND = "RedisBackupSchedule"
SCHEDULE_PLURAL = "redisbackupschedules"
SCHEDULE_SINGULAR = "redisbackupschedule"
SCHEDULE_SHORT_NAMES = ("rbs",)
SCHEDULE_CRD_NAME = f"{SCHEDULE_PLURAL}.{GROUP}"


class RedisBackupSchedule(BaseModel):
    """Automatic backups of a Redis source, as ElastiCache's automatic backups (SnapshotWindow,
    SnapshotRetentionLimit) or on a cron schedule.

    At each slot the operator creates a RedisBackup owned by the schedule (labelled redisbackup.io/schedule, status
    snapshotSource automated), and deletes the older ones that keepLast and snapshotRetentionLimit no longer keep.
    Deleting the schedule deletes its automated backups; copy one to keep it.
    """

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    api_version: Literal["redisbackup.io/v1alpha1"] = Field(default="redisbackup.io/v1alpha1", alias="apiVersion")
    kind: Literal["RedisBackupSchedule"] = "RedisBackupSchedule"
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: RedisBackupScheduleSpec
    status: RedisBackupScheduleStatus | None = None


def is_schedule(document: object) -> bool:
    """Whether a manifest document is a RedisBackupSchedule of our group (any version)."""
    if not isinstance(document, dict):
        return False
    api_version = document.get("apiVersion")
    return document.get("kind") == SCHEDULE_KIND and isinstance(api_version, str) and api_version.split("/")[0] == GROUP
