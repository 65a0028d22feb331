"""Reading RedisBackups from the API: the other backups of a namespace, for the snapshotName uniqueness rule."""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.api.validation import ExistingBackup
from redisbackup.k8s import rest
from redisbackup.k8s.client import api_client


def list_existing_backups(namespace: str, client: kubernetes.client.ApiClient | None = None) -> list[ExistingBackup]:
    """Every RedisBackup of `namespace` (including ones being deleted: they still hold their snapshotName).

    A plain list, not an informer cache: it is a consistent read, so a RedisBackup created a moment ago is seen.
    Two creates racing each other can still both pass; the reconciler's re-check settles that case.
    """
    api = kubernetes.client.CustomObjectsApi(client or api_client())
    listing: dict[str, Any] = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)  # type: ignore[assignment]
    found = (ExistingBackup.from_body(item) for item in listing.get("items", []))
    return [backup for backup in found if backup is not None]


def _count(namespace: str, client: kubernetes.client.ApiClient | None) -> int:
    api = kubernetes.client.CustomObjectsApi(client or api_client())
    # A list of one item without a resourceVersion is a consistent read; the apiserver counts the rest for us.
    listing = rest.fetch(api.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, limit=1)
    remaining = int((listing.get("metadata") or {}).get("remainingItemCount") or 0)
    return len(listing.get("items") or []) + remaining


async def count_backups(namespace: str, client: kubernetes.client.ApiClient | None = None) -> int:
    """How many RedisBackups `namespace` holds (including ones being deleted), without listing them all."""
    return await rest.run(_count, namespace, client)


async def existing_backups(namespace: str, client: kubernetes.client.ApiClient | None = None) -> list[ExistingBackup]:
    return await asyncio.to_thread(list_existing_backups, namespace, client)
