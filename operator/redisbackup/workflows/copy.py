"""Copying a stored snapshot into a new, independent one (ElastiCache's CopySnapshot).

    source manifest ─► per node: source object ──verified (size, CRC-64, SHA-256)──► the copy's own object
                   └─► when every node is stored: the copy's manifest (new name and uid, copiedFrom), written last

Within one S3 endpoint (one location, or two locations on one endpoint and region) S3 copies the objects itself
(CopyObject, UploadPartCopy above 5 GiB): no byte passes through the operator, and each copy is then checked
against the source's manifest by its size, its RDB signature and its CRC-64 trailer (a ranged read of 17 bytes);
every byte's SHA-256 is checked again on each restore and verify. When the copy's credentials may not read the
source bucket, or between endpoints (or a directory), the operator streams the objects store to store and checks
every byte against the manifest on the way. Either way the copy holds exactly what the source recorded or
nothing at all, and shares no object with its source: deleting either leaves the other whole.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup import __version__
from redisbackup.api.faults import FaultCode
from redisbackup.domain.describe import status_fields
from redisbackup.domain.faults import SnapshotFault
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import CopiedFrom, Manifest, NodeSnapshotRecord
from redisbackup.domain.rdb import HEADER_SIZE, TRAILER_SIZE, parse_header
from redisbackup.domain.resolution import AwaitingSource, SourceBusy
from redisbackup.storage.base import ObjectNotFound, ObjectStore, StorageAccessDenied
from redisbackup.workflows.access import KubernetesAccess
from redisbackup.workflows.commit import StoreAttempt, read_manifest, sweep
from redisbackup.workflows.locate import backup_location
from redisbackup.workflows.progress import Progress
from redisbackup.workflows.restore import SnapshotNotStored, StoredObjectCorrupt, copy_rdb, load_manifest

log = logging.getLogger(__name__)

# What a copy shows while creating: the source's description, without its sizes and storage.
PLANNED_FIELDS = (
    "cacheClusterId",
    "replicationGroupId",
    "engine",
    "engineVersion",
    "port",
    "numCacheNodes",
    "numNodeGroups",
)


async def copy_snapshot(
    source: ObjectStore,
    source_manifest: Manifest,
    target: ObjectStore,
    location: SnapshotLocation,
    *,
    tags: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Copy every RDB of `source_manifest` into `target` under `location`, then commit the copy's manifest.

    Idempotent per location, as take_snapshot: a committed copy is returned untouched; each attempt copies under
    keys of its own and commits with a create-only manifest (workflows.commit), so two attempts (two operator
    processes) never remove each other's objects, and a failure leaves nothing of this attempt.
    """
    existing = await read_manifest(target, location)
    if existing is not None:
        await sweep(target, location, existing)
        return existing
    attempt = StoreAttempt(target, location)
    done = 0
    total = source_manifest.total_size

    def overall(node_done: int, _: int | None) -> None:
        if progress is not None:
            progress(done + node_done, total)

    try:
        records = []
        for record in source_manifest.node_snapshots:
            key = attempt.key(record.id)
            if await copy_in_s3(source, record, target, key):
                overall(record.size, record.size)
            else:
                await copy_rdb(source, record, target, key, progress=overall)
            done += record.size
            records.append(record.model_copy(update={"object_key": key}))
        manifest = source_manifest.model_copy(
            update={
                "snapshot_name": location.snapshot_name,
                "namespace": location.namespace,
                "uid": location.uid,
                "complete_time": dt.datetime.now(dt.UTC),
                "tool_version": __version__,
                "node_snapshots": tuple(records),
                "tags": dict(tags or {}),
                "copied_from": CopiedFrom(
                    snapshot_name=source_manifest.snapshot_name,
                    namespace=source_manifest.namespace,
                    uid=source_manifest.uid,
                ),
                "attempt": attempt.id,
            }
        )
        committed = await attempt.commit(manifest)  # last: the commit record
    except BaseException:
        await attempt.abandon()
        raise
    if committed.attempt != attempt.id:
        await attempt.abandon()
    await sweep(target, location, committed)
    log.info(
        "copied snapshot %s (%d bytes) to %s/%s",
        source_manifest.snapshot_name,
        total,
        target.url,
        location.directory,
    )
    return committed


async def copy_in_s3(source: ObjectStore, record: NodeSnapshotRecord, target: ObjectStore, key: str) -> bool:
    """Copy one node's RDB inside S3 and check it against `record`; False when S3 cannot (stream it instead)."""
    from redisbackup.storage.s3 import S3Store  # boto3 only where S3 is used (storage.pool)

    if not isinstance(target, S3Store) or not isinstance(source, S3Store) or not target.copies_from(source):
        return False
    where = f"{source.url}/{record.object_key}"
    try:
        await target.copy_from(source, record.object_key, key, record.size)
    except StorageAccessDenied as denied:  # this location's keys may not read the source bucket
        log.info("copying %s inside S3 was refused (%s); streaming it through the operator", where, denied)
        return False
    except ObjectNotFound:
        raise SnapshotNotStored(
            f"{where}, listed in the snapshot's manifest, is missing: the snapshot was partly deleted. "
            "Nothing was copied; use another snapshot."
        ) from None
    header, size = await target.read_range(key, 0, HEADER_SIZE)
    trailer, _ = await target.read_range(key, -TRAILER_SIZE, TRAILER_SIZE)
    problems = []
    if size != record.size:
        problems.append(f"{size} bytes instead of {record.size}")
    try:
        parsed = parse_header(header, node=where)
        if parsed != record.header:
            problems.append(f"RDB {parsed} instead of {record.header}")
    except SnapshotFault as fault:
        problems.append(fault.message)
    if record.crc64_verified and trailer[::-1].hex() != record.crc64:
        problems.append(f"CRC-64 trailer {trailer[::-1].hex()} instead of {record.crc64}")
    if problems:
        raise StoredObjectCorrupt(
            f"the copy of {where} does not match the snapshot's manifest: {'; '.join(problems)}. It was replaced "
            "or damaged after the snapshot was taken; nothing was copied. Use another snapshot."
        )
    log.info("copied %s inside S3 (%d bytes) to %s", where, record.size, target.where(key))
    return True


# ---------------------------------------------------------------------------------------------- the operator's side
class SourceSnapshotNotFound(AwaitingSource):
    """No RedisBackup of the namespace has the snapshotName to copy (yet: GitOps may create it a moment later)."""

    code = FaultCode.SNAPSHOT_NOT_FOUND


class SourceSnapshotCreating(SourceBusy):
    """The snapshot to copy is still being taken: the copy waits for it, as long as it takes."""

    code = FaultCode.INVALID_SNAPSHOT_STATE


class SourceSnapshotUnusable(SnapshotFault):
    """The snapshot to copy failed or is being deleted: there is nothing to copy, ever."""

    code = FaultCode.INVALID_SNAPSHOT_STATE
    transient = False


def check_source_snapshot(body: Mapping[str, Any] | None, *, namespace: str, name: str) -> Mapping[str, Any]:
    """The source RedisBackup if it can be copied now; else the fault that says why (and whether to wait)."""
    if body is None:
        raise SourceSnapshotNotFound(
            f'spec.sourceSnapshotName "{name}": no RedisBackup in namespace {namespace} has that snapshotName. '
            "Create it (or correct the name); the copy waits for it until the source deadline passes",
            field="spec.sourceSnapshotName",
        )
    phase = str((body.get("status") or {}).get("phase") or "creating")
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        phase = "deleting"
    if phase == "creating":
        raise SourceSnapshotCreating(
            f'spec.sourceSnapshotName "{name}" is still being created: the copy starts when it is available',
            field="spec.sourceSnapshotName",
        )
    if phase != "available":
        raise SourceSnapshotUnusable(
            f'spec.sourceSnapshotName "{name}" is {phase}, not available: only an available snapshot can be copied',
            field="spec.sourceSnapshotName",
        )
    return body


def copied_fields(source_status: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy's status fields, with what only the source's RedisBackup knew (its Pods: node creation times and
    type, whether it could fail over) carried over, as ElastiCache's copy keeps the source's description."""
    merged = dict(fields)
    for key in ("cacheNodeType", "automaticFailover"):
        if source_status.get(key) is not None:
            merged[key] = source_status[key]
    known = {n.get("cacheNodeId") or n.get("nodeGroupId"): n for n in source_status.get("nodeSnapshots") or []}
    merged["nodeSnapshots"] = [
        {**node, **_node_facts(known.get(node.get("cacheNodeId") or node.get("nodeGroupId")) or {})}
        for node in fields.get("nodeSnapshots") or []
    ]
    return merged


def _node_facts(node: Mapping[str, Any]) -> dict[str, Any]:
    return {key: node[key] for key in ("cacheNodeCreateTime", "sourcePod") if node.get(key) is not None}


@dataclass(frozen=True)
class CopySource:
    """The available RedisBackup a copy reads: its status, its storage location and its committed manifest."""

    status: Mapping[str, Any]
    store: ObjectStore
    manifest: Manifest

    def planned_fields(self, storage: str) -> dict[str, Any]:
        """The copy's status while it is created (mark_planned): the source's description, no sizes yet."""
        described = status_fields(self.manifest, storage=storage, location="", pods={})
        planned = {key: described[key] for key in PLANNED_FIELDS if key in described}
        nodes = copied_fields(self.status, described)["nodeSnapshots"]
        planned["nodeSnapshots"] = [{**node, "cacheSize": ""} for node in nodes]
        return planned


async def find_copy_source(
    kubernetes: KubernetesAccess, stores: Callable[[str], Awaitable[ObjectStore]], namespace: str, name: str
) -> CopySource:
    """The RedisBackup of `namespace` whose snapshotName is `name`, if it can be copied now (else the fault)."""
    found = await kubernetes.find_snapshot(namespace, name)
    source = check_source_snapshot(found, namespace=namespace, name=name)
    status = source.get("status") or {}
    store = await stores(str(status.get("storage")))
    return CopySource(status, store, await load_manifest(store, backup_location(source)))
