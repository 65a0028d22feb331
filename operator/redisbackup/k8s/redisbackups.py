"""Reading and writing RedisBackups through the API.

The operator lists them in pages and watches them (`list_page`, `watch_backups`: workflows.informer).

The webhook lists the other backups of a namespace (the snapshotName uniqueness rule); the CLI finds, creates and
deletes them (the CLI records a verification through `k8s.status`). Errors come back as faults (`k8s.faults`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import resolved_identifier
from redisbackup.api.resource import DATA_FINALIZER, PLURAL
from redisbackup.api.validation import ExistingBackup
from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import api, finalizers
from redisbackup.k8s.api import Client


def list_existing_backups(namespace: str, client: Client | None = None) -> list[ExistingBackup]:
    """Every RedisBackup of `namespace` (including ones being deleted: they still hold their snapshotName).

    A plain list, not an informer cache: it is a consistent read, so a RedisBackup created a moment ago is seen.
    Two creates racing each other can still both pass; the reconciler's re-check settles that case.
    """
    listing = api.call(
        f"list RedisBackups in namespace {namespace}",
        api.custom(client).list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
    )
    found = (ExistingBackup.from_body(item) for item in listing.get("items", []))
    return [backup for backup in found if backup is not None]


def _count(namespace: str, client: Client | None) -> int:
    # A list of one item without a resourceVersion is a consistent read; the apiserver counts the rest for us.
    listing = api.call(
        f"count the RedisBackups in namespace {namespace}",
        api.custom(client).list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        limit=1,
    )
    remaining = int((listing.get("metadata") or {}).get("remainingItemCount") or 0)
    return len(listing.get("items") or []) + remaining


async def count_backups(namespace: str, client: Client | None = None, *, admission: bool = False) -> int:
    """How many RedisBackups `namespace` holds (including ones being deleted), without listing them all.
    `admission`: for the webhook, on its own threads (k8s.api.in_admission_thread)."""
    run = api.in_admission_thread if admission else api.in_thread
    return await run(_count, namespace, client)


async def existing_backups(
    namespace: str, client: Client | None = None, *, admission: bool = False
) -> list[ExistingBackup]:
    run = api.in_admission_thread if admission else api.in_thread
    return await run(list_existing_backups, namespace, client)


# ---------------------------------------------------------------------------------------------- the CLI's calls
class SnapshotNotFound(ValidationFault):
    code = FaultCode.SNAPSHOT_NOT_FOUND


def list_backups(namespace: str | None, client: Client | None = None) -> list[dict[str, Any]]:
    """Every RedisBackup of `namespace` (None: of every namespace), oldest first."""
    custom = api.custom(client)
    if namespace is None:
        listing = api.call("list RedisBackups", custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
    else:
        listing = api.call(
            f"list RedisBackups in namespace {namespace}",
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
        )
    items: list[dict[str, Any]] = listing.get("items", [])
    return sorted(items, key=lambda b: (b["metadata"].get("creationTimestamp", ""), b["metadata"]["name"]))


def find_backup(namespace: str, snapshot_name: str, client: Client | None = None) -> dict[str, Any]:
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


def create_backup(namespace: str, body: dict[str, Any], client: Client | None = None) -> dict[str, Any]:
    custom = api.custom(client)
    name = body["metadata"]["name"]
    return api.call(
        f"create RedisBackup {name} in namespace {namespace}",
        custom.create_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        body,
    )


def delete_backup(namespace: str, name: str, client: Client | None = None) -> dict[str, Any]:
    """Ask for the deletion; returns the object as it is now (with deletionTimestamp, held by the finalizer)."""
    custom = api.custom(client)
    return api.call(
        f"delete RedisBackup {name} in namespace {namespace}",
        custom.delete_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
    )


def get_backup(namespace: str, name: str, client: Client | None = None) -> dict[str, Any] | None:
    custom = api.custom(client)
    return api.call_or_none(
        f"read RedisBackup {name} in namespace {namespace}",
        custom.get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
    )


def patch_backup(namespace: str, name: str, patch: dict[str, Any], client: Client | None = None) -> dict[str, Any]:
    """JSON merge patch of a RedisBackup (its mutable spec fields: tags, deletionPolicy, verify)."""
    return api.call(
        f"update RedisBackup {name} in namespace {namespace}",
        api.custom(client).patch_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        patch,
        _content_type=api.MERGE_PATCH,
    )


# ------------------------------------------------------------------------------------------ the operator's watch
def list_page(namespace: str | None, limit: int, token: str | None = None) -> dict[str, Any]:
    """One page of the RedisBackups of `namespace` (None: of every namespace): `items`, and in `metadata` the
    `continue` token of the next page (none on the last) and the list's `resourceVersion` to watch from."""
    custom = api.custom()
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    paging: dict[str, Any] = {"limit": limit}
    if token:
        paging["_continue"] = token
    if namespace is None:
        return api.call(
            f"list RedisBackups {where}", custom.list_cluster_custom_object, GROUP, VERSION, PLURAL, **paging
        )
    return api.call(
        f"list RedisBackups {where}", custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, **paging
    )


def watch_backups(
    namespace: str | None, resource_version: str, timeout_seconds: int, stop: threading.Event
) -> Iterator[dict[str, Any]]:
    """The watch events of the RedisBackups of `namespace` (None: every namespace) from `resource_version`
    (k8s.api.watch: synchronous and long, on a thread of its own)."""
    custom = api.custom()
    where = f"in namespace {namespace}" if namespace else "in all namespaces"
    if namespace is None:
        method: Callable[..., Any] = custom.list_cluster_custom_object
        args: tuple[str, ...] = (GROUP, VERSION, PLURAL)
    else:
        method, args = custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, PLURAL)
    return api.watch(
        f"watch RedisBackups {where}",
        method,
        *args,
        resource_version=resource_version,
        timeout_seconds=timeout_seconds,
        stop=stop,
    )


def set_data_finalizer(namespace: str, name: str, uid: str, *, present: bool) -> bool:
    """Add or remove the finalizer redisbackup.io/data of RedisBackup `name` (uid `uid`); False when it is gone."""
    return finalizers.set_finalizer(
        lambda: get_backup(namespace, name),
        lambda patch: patch_backup(namespace, name, patch),
        uid=uid,
        finalizer=DATA_FINALIZER,
        present=present,
        what=f"RedisBackup {name} in namespace {namespace}",
    )
