"""Finding a stored snapshot: through its RedisBackup (and the operator's storage configuration), or by URL.

    --snapshot-name NAME [-n NS]   the RedisBackup (must be available) → its storage location (status.storage, as
                                   configured for the operator: REDISBACKUP_CONFIG) → <ns>/<name>/<uid>/manifest.json
    --from URL                     s3://bucket/prefix/<ns>/<name>/<uid> or file:///dir/<ns>/<name>/<uid>: no
                                   Kubernetes at all (disaster recovery, when the cluster is gone)

Either way the manifest is read first: it is the commit record, and everything restored is checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.api.config import OperatorConfig
from redisbackup.api.status import Phase
from redisbackup.domain.faults import InvalidSnapshotState
from redisbackup.domain.layout import SnapshotLocation, split_snapshot_url
from redisbackup.domain.manifest import Manifest
from redisbackup.k8s.api import in_thread
from redisbackup.k8s.redisbackups import find_backup
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.location import open_store
from redisbackup.storage.pool import StorePool
from redisbackup.workflows.restore import load_manifest


@dataclass
class LocatedSnapshot:
    store: ObjectStore
    location: SnapshotLocation
    manifest: Manifest
    backup: dict[str, Any] | None = None  # the RedisBackup, when found through Kubernetes
    storage: str | None = None  # the storage location's name in the operator's configuration
    _pool: StorePool | None = None

    @property
    def url(self) -> str:
        return f"{self.store.url}/{self.location.directory}"

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        else:
            await self.store.close()


def backup_location(body: Mapping[str, Any]) -> SnapshotLocation:
    metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
    return SnapshotLocation(
        namespace=str(metadata.get("namespace")), snapshot_name=str(spec.get("snapshotName")), uid=str(metadata["uid"])
    )


def require_available(body: Mapping[str, Any], doing: str) -> None:
    """InvalidSnapshotState unless the RedisBackup is available (`doing`: "restore it")."""
    status = body.get("status") or {}
    phase = status.get("phase") or Phase.CREATING.value
    name = (body.get("spec") or {}).get("snapshotName")
    namespace = (body.get("metadata") or {}).get("namespace")
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        phase = Phase.DELETING.value
    if phase != Phase.AVAILABLE.value:
        hint = {
            Phase.CREATING.value: f"wait for it: kubectl wait -n {namespace} --for=jsonpath='{{.status.phase}}'="
            f"available rb/{(body.get('metadata') or {}).get('name')}",
            Phase.FAILED.value: "it will never be; take a new snapshot",
            Phase.DELETING.value: "it is going away; use another snapshot",
        }.get(phase, "use an available snapshot")
        raise InvalidSnapshotState(
            f'snapshot "{name}" in namespace {namespace} is {phase}, not available: only an available snapshot can '
            f"{doing.rstrip('.')}; {hint}",
            field="--snapshot-name",
        )


async def locate_backup(
    namespace: str, snapshot_name: str, config: OperatorConfig, *, doing: str = "be restored"
) -> LocatedSnapshot:
    """The stored snapshot of an available RedisBackup, opened with the operator's storage configuration."""
    body = await in_thread(find_backup, namespace, snapshot_name)
    require_available(body, doing)
    status = body.get("status") or {}
    storage = status.get("storage") or (body.get("spec") or {}).get("storage") or config.storage.default_location
    pool = StorePool(dict(config.storage.locations))
    try:
        store = await pool.open(storage)
        location = backup_location(body)
        manifest = await load_manifest(store, location)
    except BaseException:
        await pool.close()
        raise
    return LocatedSnapshot(store, location, manifest, backup=body, storage=storage, _pool=pool)


async def locate_url(url: str, **s3_options: Any) -> LocatedSnapshot:
    """The snapshot at `<location>/<namespace>/<snapshotName>/<uid>`; S3 credentials from the AWS chain."""
    root, location = split_snapshot_url(url)
    store = open_store(root, **s3_options)
    try:
        manifest = await load_manifest(store, location)
    except BaseException:
        await store.close()
        raise
    return LocatedSnapshot(store, location, manifest)
