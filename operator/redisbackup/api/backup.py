"""The typed model of a whole RedisBackup body (apiVersion, kind, metadata, spec, status); the CRD's root."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from redisbackup.api.spec import RedisBackupSpec
from redisbackup.api.status import RedisBackupStatus


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
