"""Reading and writing RedisBackups through the API.

The webhook lists the other backups of a namespace (the snapshotName uniqueness rule); the CLI finds, creates and
deletes them, and records verification results in their status. Errors come back as faults (`k8s.faults`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes

from redisbackup import GROUP, VERSION
from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import resolved_identifier
from redisbackup.api.resource import PLURAL
from redisbackup.api.validation import ExistingBackup
from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import rest
from redisbackup.k8s.client import api_client
from redisbackup.k8s.faults import calling


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


# ---------------------------------------------------------------------------------------------- the CLI's calls
class SnapshotNotFound(ValidationFault):
    code = FaultCode.SNAPSHOT_NOT_FOUND


def _custom(client: kubernetes.client.ApiClient | None) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(client or api_client())


def list_backups(namespace: str | None, client: kubernetes.client.ApiClient | None = None) -> list[dict[str, Any]]:
    """Every RedisBackup of `namespace` (None: of every namespace), oldest first."""
    api = _custom(client)
    if namespace is None:
        listing = calling("list RedisBackups", rest.fetch, api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
    else:
        listing = calling(
            f"list RedisBackups in namespace {namespace}",
            rest.fetch,
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
        )
    items: list[dict[str, Any]] = listing.get("items", [])
    return sorted(items, key=lambda b: (b["metadata"].get("creationTimestamp", ""), b["metadata"]["name"]))


def find_backup(
    namespace: str, snapshot_name: str, client: kubernetes.client.ApiClient | None = None
) -> dict[str, Any]:
    """The RedisBackup of `namespace` whose spec.snapshotName is `snapshot_name` (ignoring case, as the
    uniqueness rule does); SnapshotNotFound when there is none."""
    wanted = resolved_identifier(snapshot_name)
    found = [
        body
        for body in list_backups(namespace, client)
        if resolved_identifier(str((body.get("spec") or {}).get("snapshotName", ""))) == wanted
    ]
    if not found:
        raise SnapshotNotFound(
            f"Snapshot {snapshot_name} not found in namespace {namespace}: no RedisBackup there has spec.snapshotName "
            f'"{snapshot_name}". List them with `redisbackup describe-snapshots -n {namespace}` or `kubectl get rb -n '
            f"{namespace}`",
            field="--snapshot-name",
        )
    # Two can exist for a moment (racing creates); the older one is the one the reconciler keeps.
    return found[0]


def create_backup(
    namespace: str, body: dict[str, Any], client: kubernetes.client.ApiClient | None = None
) -> dict[str, Any]:
    api = _custom(client)
    name = body["metadata"]["name"]
    return calling(
        f"create RedisBackup {name} in namespace {namespace}",
        rest.fetch,
        api.create_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        body,
    )


def delete_backup(namespace: str, name: str, client: kubernetes.client.ApiClient | None = None) -> dict[str, Any]:
    """Ask for the deletion; returns the object as it is now (with deletionTimestamp, held by the finalizer)."""
    api = _custom(client)
    return calling(
        f"delete RedisBackup {name} in namespace {namespace}",
        rest.fetch,
        api.delete_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
    )


def get_backup(namespace: str, name: str, client: kubernetes.client.ApiClient | None = None) -> dict[str, Any] | None:
    api = _custom(client)
    return calling(
        f"read RedisBackup {name} in namespace {namespace}",
        rest.fetch_or_none,
        api.get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
    )


def patch_backup_status(
    namespace: str,
    name: str,
    patch: dict[str, Any],
    *,
    resource_version: str | None = None,
    client: kubernetes.client.ApiClient | None = None,
) -> dict[str, Any]:
    """JSON merge patch of `.status`; with `resource_version`, refused (409) if the object changed since."""
    api = _custom(client)
    body: dict[str, Any] = {"status": patch}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return calling(
        f"update the status of RedisBackup {name} in namespace {namespace}",
        rest.fetch,
        api.patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        body,
        _content_type=rest.MERGE_PATCH,
    )


def patch_backup(
    namespace: str, name: str, patch: dict[str, Any], client: kubernetes.client.ApiClient | None = None
) -> dict[str, Any]:
    """JSON merge patch of a RedisBackup (its mutable spec fields: tags, deletionPolicy, verify)."""
    api = _custom(client)
    return calling(
        f"update RedisBackup {name} in namespace {namespace}",
        rest.fetch,
        api.patch_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        patch,
        _content_type=rest.MERGE_PATCH,
    )
