"""RedisBackupSchedule.status: when it ran, when it runs next, and what it keeps; written by the operator only.

The times are those of the schedule's slots (when a run was due), as a CronJob's lastScheduleTime is, in UTC.
Conditions follow the Kubernetes convention (`redisbackup.api.status.Condition`), which kstatus and Argo CD read.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from redisbackup.api.status import Condition, StatusModel


class RedisBackupScheduleStatus(StatusModel):
    """The observed state of the schedule."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The metadata.generation the operator last acted on."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready (the schedule runs: False when its newest automated backup failed, or the spec cannot "
        "be scheduled) and Stalled (the spec cannot be scheduled until it is changed).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    source: str | None = Field(default=None, description="The cacheClusterId or replicationGroupId backed up.")
    schedule: str | None = Field(
        default=None,
        description="When it runs, as the operator reads the spec: the cron expression and its time zone, or for a "
        "snapshotWindow the start time chosen inside the window.",
    )
    last_schedule_time: datetime | None = Field(
        default=None, description="The slot of the last run that created an automated backup."
    )
    last_successful_time: datetime | None = Field(
        default=None, description="The slot of the newest automated backup that is available."
    )
    next_schedule_time: datetime | None = Field(
        default=None, description="The next slot (none while suspended or turned off)."
    )
    last_skipped_time: datetime | None = Field(
        default=None,
        description="The last slot that created no backup: the previous one was still being taken, the run was "
        "missed by more than startingDeadlineSeconds, or the schedule was suspended.",
    )
    active: str | None = Field(
        default=None, description="The automated RedisBackup being taken now (status.phase creating), if any."
    )
    last_backup: str | None = Field(default=None, description="The newest automated RedisBackup.")
    kept: int | None = Field(default=None, ge=0, description="Available automated backups kept now.")
