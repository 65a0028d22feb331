"""The typed model of a whole RedisBackupSchedule body (apiVersion, kind, metadata, spec, status); the CRD's root."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from redisbackup.api.schedule_spec import RedisBackupScheduleSpec
from redisbackup.api.schedule_status import RedisBackupScheduleStatus


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
