"""The identity of the RedisBackup and RedisBackupSchedule resources: group, version, kinds and names.

Plain constants and checks, no models: most of the code only needs a kind or a plural, and importing the
pydantic models for that would cost every CLI command their import (CLI start-up is a `make bench` figure). The
typed models of whole bodies are in `api.backup` (RedisBackup) and `api.schedule` (RedisBackupSchedule).
"""

from __future__ import annotations

from redisbackup import GROUP, VERSION

KIND = "RedisBackup"
PLURAL = "redisbackups"
DATA_FINALIZER = f"{GROUP}/data"  # held by every RedisBackup until its stored data is handled (kopf wrote it before)
SINGULAR = "redisbackup"
SHORT_NAMES = ("rb",)
CATEGORIES = ("redis", "backup")
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"


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


def is_schedule(document: object) -> bool:
    """Whether a manifest document is a RedisBackupSchedule of our group (any version)."""
    if not isinstance(document, dict):
        return False
    api_version = document.get("apiVersion")
    return document.get("kind") == SCHEDULE_KIND and isinstance(api_version, str) and api_version.split("/")[0] == GROUP
