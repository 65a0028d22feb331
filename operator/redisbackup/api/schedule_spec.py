"""RedisBackupSchedule.spec: automatic backups of one source, as ElastiCache's SnapshotWindow and
SnapshotRetentionLimit, or on a cron schedule as CloudNativePG's ScheduledBackup.

The source fields follow RedisBackup's rules (the same `naming` kinds, the same CEL rules); the template holds
what every automated RedisBackup copies. The models are the single source of truth for the CRD
(`redisbackup.api.crd`); the rules that CEL cannot express (a cron expression's fields, a time zone's existence)
are in `redisbackup.api.timing` and `redisbackup.api.schedule_validation`, shared with the webhook.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from redisbackup.api import naming, timing
from redisbackup.api.cel import cel_rule, validations
from redisbackup.api.faults import FaultCode
from redisbackup.api.spec import MAX_TAGS, DeletionPolicy, SourceAccess, SpecModel, Tags, name_field, tags_field

SCHEDULE_SOURCE_FIELDS = ("cacheClusterId", "replicationGroupId")
TIMING_FIELDS = ("schedule", "snapshotWindow")
MAX_RETENTION_DAYS = 35  # ElastiCache's SnapshotRetentionLimit
MAX_KEEP_LAST = 1000


def schedule_sources_message() -> str:
    return (
        "both spec.cacheClusterId and spec.replicationGroupId are set: set only one, cacheClusterId for a single "
        "Redis node or replicationGroupId for a Redis Cluster"
    )


def schedule_no_source_message() -> str:
    return (
        "neither spec.cacheClusterId nor spec.replicationGroupId is set: set cacheClusterId to back up a single Redis "
        "node, or replicationGroupId to back up a Redis Cluster"
    )


def timing_both_message() -> str:
    return (
        "both spec.schedule and spec.snapshotWindow are set: set only one, schedule for a cron schedule or "
        "snapshotWindow for one backup a day in ElastiCache's daily window"
    )


def timing_none_message() -> str:
    return (
        'neither spec.schedule nor spec.snapshotWindow is set: set schedule (a cron expression, e.g. "0 3 * * *" or '
        '@daily) or snapshotWindow (a daily time range in UTC, e.g. "05:00-09:00")'
    )


def time_zone_with_window_message() -> str:
    return (
        "spec.timeZone applies to spec.schedule only: spec.snapshotWindow is always UTC, as in ElastiCache. Remove "
        "timeZone, or use schedule"
    )


def source_immutable_message(field: str) -> str:
    return (
        f"spec.{field} cannot be changed: a schedule's automated backups all come from one source. Create another "
        "RedisBackupSchedule for the new source"
    )


def schedule_shape_message() -> str:
    return (
        "spec.schedule must be 5 cron fields (minute hour day-of-month month day-of-week) separated by single "
        'spaces, e.g. "0 3 * * *", or one of @yearly, @monthly, @weekly, @daily, @hourly'
    )


def window_shape_message() -> str:
    return 'spec.snapshotWindow must be a time range hh24:mi-hh24:mi in UTC, e.g. "05:00-09:00"'


def window_empty_message() -> str:
    return "spec.snapshotWindow begins and ends at the same time: give a window of at least one minute"


def name_length_message() -> str:
    return (
        "metadata.name is longer than 63 characters: the schedule's name labels its backups "
        "(redisbackup.io/schedule), and a label value has at most 63 characters"
    )


class ScheduleTemplate(SourceAccess):
    """What every automated RedisBackup of the schedule gets in its spec (RedisBackup's fields of the same names)."""

    deletion_policy: DeletionPolicy = Field(
        default="Delete",
        description="What deleting an automated backup does to its stored snapshot — when retention prunes it, or "
        "when the schedule is deleted: Delete removes the data, Retain keeps it.",
    )
    verify: bool = Field(
        default=False,
        description="Verify each automated backup once it is available (RedisBackup's spec.verify).",
    )
    tags: Tags | None = tags_field(
        "spec.template.tags",
        f"ElastiCache's Tags of each automated backup (at most {MAX_TAGS}), copied to its stored objects' metadata.",
    )


class RedisBackupScheduleSpec(SpecModel):
    """Automatic backups of one Redis node or Redis Cluster, as ElastiCache's automatic backups.

    Name the source (cacheClusterId or replicationGroupId, as in a RedisBackup) and when to back it up: a cron
    schedule, or ElastiCache's snapshotWindow. Each run creates a RedisBackup owned by the schedule; keepLast and
    snapshotRetentionLimit decide how long they are kept. Deleting the schedule deletes its automated backups, as
    ElastiCache does when automatic backups end: copy one (`redisbackup copy-snapshot`) to keep it.
    """

    cache_cluster_id: str | None = name_field(
        naming.CACHE_CLUSTER_ID,
        "A single Redis node to back up, as a RedisBackup's cacheClusterId: a Pod, or a StatefulSet with one Pod. "
        "Cannot be changed.",
    )
    replication_group_id: str | None = name_field(
        naming.REPLICATION_GROUP_ID,
        "A Redis Cluster to back up, as a RedisBackup's replicationGroupId: its StatefulSet, or the value of the "
        "label redisbackup.io/replication-group on its Pods. Cannot be changed.",
    )
    schedule: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="When to back up: a cron expression of 5 fields (minute hour day-of-month month day-of-week), "
        'e.g. "0 3 * * *", or @yearly, @monthly, @weekly, @daily, @hourly; in timeZone (default UTC).',
        json_schema_extra=validations(
            cel_rule(
                f"self.matches('{timing.CRON_SHAPE}')", FaultCode.INVALID_PARAMETER_VALUE, schedule_shape_message()
            )
        ),
    )
    snapshot_window: str | None = Field(
        default=None,
        pattern=timing.WINDOW_PATTERN,
        description="ElastiCache's SnapshotWindow instead of a schedule: the daily time range (UTC) in which the "
        'backup begins, e.g. "05:00-09:00". The operator picks a start minute inside it that stays the same for '
        "this schedule (from its uid) and shows it in status.schedule, so the schedules of many sources spread "
        "over a shared window.",
        json_schema_extra=validations(
            # size() first: the pattern rejects other shapes, but CEL rules run on them too.
            cel_rule(
                "size(self) != 11 || self.substring(0, 5) != self.substring(6, 11)",
                FaultCode.INVALID_PARAMETER_VALUE,
                window_empty_message(),
            )
        ),
    )
    time_zone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=timing.TIME_ZONE_PATTERN,
        description="IANA time zone of schedule (e.g. Europe/Berlin); default UTC. Runs follow the zone's clock "
        "across daylight-saving changes, as Debian's cron does.",
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        description="How late a run may still start, e.g. after the operator was down over its time: a missed run "
        "starts once when the operator is back if it is less than this late, else it is skipped with a "
        "MissedSchedule Event. Default: with snapshotWindow, until the window closes; with schedule, until the next "
        "run is due. Never more than one missed run is made up.",
    )
    keep_last: int | None = Field(
        default=None,
        ge=1,
        le=MAX_KEEP_LAST,
        description="Keep the newest N available automated backups; older ones are deleted (with their stored data, "
        "unless template.deletionPolicy is Retain).",
    )
    snapshot_retention_limit: int | None = Field(
        default=None,
        ge=0,
        le=MAX_RETENTION_DAYS,
        description="ElastiCache's SnapshotRetentionLimit: delete automated backups older than this many days "
        "(0-35). As in ElastiCache, 0 turns automatic backups off: no new runs. With keepLast too, a backup goes "
        "when either rule says so. The newest available automated backup is never deleted by retention.",
    )
    suspend: bool = Field(
        default=False,
        description="Stop new runs (retention goes on); runs that fall due while suspended are skipped, not made up.",
    )
    template: ScheduleTemplate = Field(
        default_factory=ScheduleTemplate, description="The spec every automated RedisBackup gets."
    )

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule(
                "!(has(self.cacheClusterId) && has(self.replicationGroupId))",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                schedule_sources_message(),
            ),
            cel_rule(
                "has(self.cacheClusterId) || has(self.replicationGroupId)",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                schedule_no_source_message(),
            ),
            cel_rule(
                "!(has(self.schedule) && has(self.snapshotWindow))",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                timing_both_message(),
            ),
            cel_rule(
                "has(self.schedule) || has(self.snapshotWindow)",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                timing_none_message(),
            ),
            cel_rule(
                "!(has(self.timeZone) && has(self.snapshotWindow))",
                FaultCode.INVALID_PARAMETER_COMBINATION,
                time_zone_with_window_message(),
            ),
        )
    )


def source_immutability_rules() -> list[dict[str, str]]:
    """Transition rules on the spec: the source never changes (adding or removing one is a change too)."""
    return [
        cel_rule(
            f"has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field} == oldSelf.{field})",
            FaultCode.INVALID_PARAMETER_VALUE,
            source_immutable_message(field),
            field_path=f".{field}",
        )
        for field in SCHEDULE_SOURCE_FIELDS
    ]


def metadata_rules() -> list[dict[str, str]]:
    """Rules on the whole object (CEL sees metadata.name there)."""
    return [cel_rule("size(self.metadata.name) <= 63", FaultCode.INVALID_PARAMETER_VALUE, name_length_message())]
