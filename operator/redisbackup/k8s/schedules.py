"""Reading and writing RedisBackupSchedules and the automated RedisBackups they own, through the API."""

from __future__ import annotations

from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL, SCHEDULE_PLURAL
from redisbackup.domain.automated import SCHEDULE_LABEL
from redisbackup.k8s import api
from redisbackup.k8s.api import Client


def _list_automated(namespace: str, schedule: str, client: Client | None) -> list[dict[str, Any]]:
    listing = api.call(
        f"list the RedisBackups of RedisBackupSchedule {schedule} in namespace {namespace}",
        api.custom(client).list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        label_selector=f"{SCHEDULE_LABEL}={schedule}",
    )
    items: list[dict[str, Any]] = listing.get("items", [])
    return items


async def list_automated(namespace: str, schedule: str, client: Client | None = None) -> list[dict[str, Any]]:
    """The RedisBackups labelled with the schedule's name (a consistent read: a backup created a moment ago is
    there); the caller checks ownership (`domain.automated.belongs_to`)."""
    return await api.in_thread(_list_automated, namespace, schedule, client)


def list_schedules(namespace: str | None, client: Client | None = None) -> list[dict[str, Any]]:
    """Every RedisBackupSchedule of `namespace` (None: of every namespace)."""
    custom = api.custom(client)
    if namespace is None:
        listing = api.call(
            "list RedisBackupSchedules", custom.list_cluster_custom_object, GROUP, VERSION, SCHEDULE_PLURAL
        )
    else:
        listing = api.call(
            f"list RedisBackupSchedules in namespace {namespace}",
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            SCHEDULE_PLURAL,
        )
    items: list[dict[str, Any]] = listing.get("items", [])
    return items
