"""Restoring one node: its stored RDB, verified against the manifest, into a Redis data directory as dump.rdb.

    manifest.json ─► the node's record (key, size, CRC-64, SHA-256)
    stored RDB ──chunks──► size check ─► RdbVerifier (header, CRC-64 trailer, SHA-256) ─► temp file in DIR
                                        └─ all match the manifest ─► fsync ─► rename to DIR/dump.rdb ─► fsync DIR

Nothing appears under the final name unless every byte matched what the snapshot recorded when it was taken, so a
Redis that starts after a failed restore finds no dump.rdb rather than a damaged one. This is what the restore
init container runs before redis-server starts (DESIGN.md §7); restore-cluster and verification fetch the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from redisbackup.api.faults import FaultCode
from redisbackup.domain.engines import EngineVersion, check_restore_target
from redisbackup.domain.faults import RestoreFault, SnapshotFault, StorageFault, ValidationFault
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord
from redisbackup.domain.rdb import ChecksumMismatch, RdbDigest, RdbVerifier, UnsupportedRdbVersion
from redisbackup.storage.base import ObjectNotFound, ObjectStore
from redisbackup.storage.file import TEMP_SUFFIX, FileStore
from redisbackup.workflows.checksums import verify_while
from redisbackup.workflows.commit import read_manifest
from redisbackup.workflows.progress import Progress, ProgressTracker

log = logging.getLogger(__name__)

RDB_NAME = "dump.rdb"
# Entries a data directory may hold and still count as empty: the ext4 root of a fresh volume.
IGNORED_ENTRIES = frozenset({"lost+found"})
# What Redis would load instead of dump.rdb (appendonly yes): removed by --force so the restored RDB wins.
AOF_ENTRIES = ("appendonlydir", "appendonly.aof")


class StoredObjectCorrupt(StorageFault):
    """A stored RDB differs from what its manifest recorded (size, CRC-64 or SHA-256)."""

    code = FaultCode.STORED_OBJECT_CORRUPT
    transient = False


class SnapshotNotStored(StorageFault):
    code = FaultCode.SNAPSHOT_NOT_FOUND
    transient = False


class DataDirectoryNotEmpty(RestoreFault):
    code = FaultCode.RESTORE_TARGET_NOT_EMPTY


async def load_manifest(store: ObjectStore, location: SnapshotLocation) -> Manifest:
    """The committed manifest of a snapshot; SnapshotNotStored when there is none (never finished, or deleted)."""
    manifest = await read_manifest(store, location)
    if manifest is None:
        raise SnapshotNotStored(
            f"there is no committed snapshot at {store.url}/{location.directory} (no {location.manifest_key}): it "
            "was never completed, or it was deleted. Check the location, the namespace, the snapshot name and uid."
        )
    return manifest


def select_node(manifest: Manifest, node_id: str | None) -> NodeSnapshotRecord:
    """The node (CacheNodeId) or shard (NodeGroupId) to restore; a cluster snapshot needs one named."""
    ids = [record.id for record in manifest.node_snapshots]
    if node_id is None:
        if len(ids) == 1 and manifest.cache_cluster_id is not None:
            return manifest.node_snapshots[0]
        raise ValidationFault(
            f'snapshot "{manifest.snapshot_name}" is of replication group "{manifest.replication_group_id}" with '
            f"{len(ids)} node groups ({', '.join(ids)}): restore it into a new cluster with `redisbackup "
            "restore-cluster`, or restore one shard's RDB with --node-group ID",
            field="--node-group",
        )
    for record in manifest.node_snapshots:
        if record.id == node_id:
            return record
    raise ValidationFault(
        f'snapshot "{manifest.snapshot_name}" has no node {node_id!r}; its nodes are {", ".join(ids)}',
        field="--node-group",
    )


def _damage(fault: SnapshotFault) -> str:
    if isinstance(fault, ChecksumMismatch):
        return "its bytes do not hash to its own CRC-64 trailer"
    if isinstance(fault, UnsupportedRdbVersion):
        return "its header names an RDB version the snapshot did not have"
    return "it is not a complete RDB (a wrong signature, or cut short)"


def _compare(digest: RdbDigest, record: NodeSnapshotRecord, where: str) -> None:
    problems = []
    if digest.size != record.size:
        problems.append(f"{digest.size} bytes instead of {record.size}")
    if digest.sha256 != record.sha256:
        problems.append(f"SHA-256 {digest.sha256[:16]}… instead of {record.sha256[:16]}…")
    if record.crc64_verified and digest.crc64_hex != record.crc64:
        problems.append(f"CRC-64 {digest.crc64_hex} instead of {record.crc64}")
    if digest.header != record.header:
        problems.append(f"RDB {digest.header} instead of {record.header}")
    if problems:
        raise StoredObjectCorrupt(
            f"{where} does not match its manifest ({'; '.join(problems)}): the stored object was damaged or replaced "
            "after the snapshot was taken. Nothing was restored; use another snapshot."
        )


async def read_verified(
    source: ObjectStore,
    record: NodeSnapshotRecord,
    sink: Callable[[bytes], Awaitable[None]],
    *,
    progress: Progress | None = None,
    chunk_size: int = 8 << 20,
) -> RdbDigest:
    """Stream a node's stored RDB into `sink`, verified against `record` on the way (size, the RDB's own CRC-64,
    and the manifest's SHA-256 and CRC-64): the caller may keep what reached `sink` only if this returns.

    Raises StoredObjectCorrupt or SnapshotNotStored.
    """
    where = f"{source.url}/{record.object_key}"
    tracker = ProgressTracker(progress, [record.id])
    tracker.started(record.id, record.size)
    verifier = RdbVerifier(where)
    try:
        async for chunk in source.read(record.object_key, chunk_size=chunk_size):
            if verifier.size + len(chunk) > record.size:
                raise StoredObjectCorrupt(
                    f"{where} is longer than the {record.size} bytes its manifest records: it was replaced "
                    "after the snapshot was taken. Nothing was restored; use another snapshot."
                )
            await verify_while(verifier, chunk, sink)  # hashing in a thread (workflows.checksums)
            tracker.add(record.id, len(chunk))
        digest = verifier.finish()
    except ObjectNotFound:
        raise SnapshotNotStored(
            f"{where}, listed in the snapshot's manifest, is missing: the snapshot was partly deleted. "
            "Nothing was restored; use another snapshot."
        ) from None
    except SnapshotFault as fault:  # not an RDB, or its own CRC-64 trailer does not match
        raise StoredObjectCorrupt(
            f"{where} is damaged: {_damage(fault)}. It no longer matches the snapshot's manifest (SHA-256 "
            f"{record.sha256[:16]}…). Nothing was restored; use another snapshot."
        ) from fault
    _compare(digest, record, where)
    tracker.finished()
    return digest


async def copy_rdb(
    source: ObjectStore,
    record: NodeSnapshotRecord,
    target: ObjectStore,
    key: str,
    *,
    progress: Progress | None = None,
    chunk_size: int = 8 << 20,
) -> RdbDigest:
    """Stream a node's stored RDB into `target` under `key`, verified against `record` on the way (`read_verified`):
    the object exists only if every byte matched.

    Raises StoredObjectCorrupt or SnapshotNotStored, leaving nothing under `key`.
    """
    async with target.writer(key, expected_size=record.size) as writer:
        digest = await read_verified(source, record, writer.write, progress=progress, chunk_size=chunk_size)
        await writer.commit()
    return digest


async def fetch_rdb(
    store: ObjectStore, record: NodeSnapshotRecord, destination: Path, *, progress: Progress | None = None
) -> RdbDigest:
    """Write a node's stored RDB to the local file `destination` atomically (temp file, fsync, rename), verified
    as `copy_rdb` does."""
    local = FileStore(destination.parent)
    return await copy_rdb(store, record, local, destination.name, progress=progress)


@dataclass(frozen=True)
class DirectoryRestore:
    """What `restore_to_directory` did."""

    path: Path
    record: NodeSnapshotRecord
    digest: RdbDigest | None  # None when skipped
    removed: list[str] = field(default_factory=list)  # AOF entries removed by force
    skipped_because: list[str] = field(default_factory=list)  # the entries that made the directory non-empty


def data_directory_entries(directory: Path) -> list[str]:
    """What makes a data directory non-empty (ignoring lost+found and our own unfinished temp files)."""
    if not directory.exists():
        return []
    return sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.name not in IGNORED_ENTRIES and not (entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX))
    )


def _remove_leftovers(directory: Path, rdb_name: str) -> None:
    """Temp files of an earlier attempt that was killed between create and rename."""
    for entry in directory.glob(f".{rdb_name}.*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def _prepare_directory(directory: Path, rdb_name: str) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(directory, rdb_name)
    return data_directory_entries(directory)


def _remove_aof(directory: Path) -> list[str]:
    removed = []
    for name in AOF_ENTRIES:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


async def restore_to_directory(
    store: ObjectStore,
    manifest: Manifest,
    directory: Path,
    *,
    node_id: str | None = None,
    force: bool = False,
    skip_if_not_empty: bool = False,
    rdb_name: str = RDB_NAME,
    progress: Progress | None = None,
    target: EngineVersion | None = None,
) -> DirectoryRestore:
    """Put one node's RDB into a Redis data directory as `rdb_name`, for redis-server to load when it starts.

    A directory with anything in it is refused (DataDirectoryNotEmpty) — restoring over live data loses it —
    unless `force` (then dump.rdb is replaced and an AOF that Redis would load instead is removed), or
    `skip_if_not_empty` (then nothing happens: an init container's later runs keep what Redis wrote since).
    With `target` (the engine and version that will load it), a target that cannot read the RDB is refused first
    (RestoreTargetIncompatible): nothing is touched.
    """
    record = select_node(manifest, node_id)
    if target is not None:
        check_restore_target(record.header, record.written_by, target, f"the server for {directory}")
    entries = await asyncio.to_thread(_prepare_directory, directory, rdb_name)
    if entries and skip_if_not_empty:
        log.info("%s is not empty (%s): keeping its data, nothing restored", directory, ", ".join(entries[:5]))
        return DirectoryRestore(directory / rdb_name, record, None, skipped_because=entries)
    if entries and not force:
        listed = ", ".join(entries[:5]) + (", …" if len(entries) > 5 else "")
        raise DataDirectoryNotEmpty(
            f"the data directory {directory} is not empty ({listed}): restoring would replace that data. Restore "
            "into an empty directory (a new volume), pass --force to replace it, or --skip-if-not-empty to keep it.",
            field="--to-dir",
        )
    digest = await fetch_rdb(store, record, directory / rdb_name, progress=progress)
    removed = await asyncio.to_thread(_remove_aof, directory) if entries else []
    return DirectoryRestore(directory / rdb_name, record, digest, removed=removed)
