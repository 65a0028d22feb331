"""Committing a stored snapshot: each attempt under its own keys, one create-only commit record, and cleanups that
never remove what is committed.

    attempt.key(node) ─► <uid>/<attempt>/node-0001.rdb … ─► attempt.commit(manifest): manifest.json, created only if
    absent ─► ours: `sweep` removes everything else under <uid>/ (no attempt can commit any more: it is garbage)
            └► another attempt's: ours is abandoned, and theirs is the snapshot

Two attempts at one snapshot may run at once: a retry in a new operator process while the old one is still
cleaning up (a rolling update), or copies, which take no lock on a source. Neither can overwrite or delete what
the other stored: their keys differ, exactly one manifest is ever created, and an attempt that fails or is
cancelled removes only its own objects — and not even those when the committed manifest turns out to be its own
(a commit that landed while the attempt was being cancelled). Objects of other attempts are removed only when
provably not committed: once a manifest that does not name them exists, or when their process is known to be gone
and no manifest names them (`abandon` of a dead holder's attempt, see k8s.locks).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redisbackup.domain.faults import StorageFault
from redisbackup.domain.layout import SnapshotLocation, new_attempt_id
from redisbackup.domain.manifest import Manifest
from redisbackup.storage.base import ObjectNotFound, ObjectStore, StorageUnavailable

log = logging.getLogger(__name__)

# How long a cancelled attempt waits for a commit already on its way before deciding what is its to remove.
COMMIT_PATIENCE = 60.0


async def read_manifest(store: ObjectStore, location: SnapshotLocation) -> Manifest | None:
    """The committed manifest of this snapshot, or None when it was never completed.

    A manifest that is there but unreadable raises ManifestUnreadable (StoredObjectCorrupt): it is never treated
    as absent, which would let the snapshot be taken again over it, or as an unexpected error retried for ever.
    """
    try:
        data = await store.get_bytes(location.manifest_key)
    except ObjectNotFound:
        return None
    return Manifest.from_json(data, where=f"{store.url}/{location.manifest_key}")


async def sweep(store: ObjectStore, location: SnapshotLocation, committed: Manifest) -> int:
    """Remove what the committed manifest does not name under the snapshot's directory, and unfinished uploads
    there (attempts killed before their cleanup, attempts that lost the commit). Best effort: what a failure leaves
    goes with the snapshot's deletion. Returns how many objects were removed."""
    keep = committed.object_keys | {location.manifest_key}
    try:
        doomed = [o.key for o in await store.list(location.directory) if o.key not in keep]
        await store.delete(doomed)
        await store.abort_uploads(location.directory)
    except StorageFault as fault:
        log.warning("could not remove the leftovers of other attempts under %s: %s", location.directory, fault)
        return 0
    if doomed:
        log.info("removed %d object(s) of other attempts under %s", len(doomed), location.directory)
    return len(doomed)


@dataclass
class StoreAttempt:
    """One attempt at storing a snapshot under `location`: where its objects go, its commit and its cleanup."""

    store: ObjectStore
    location: SnapshotLocation
    id: str = field(default_factory=new_attempt_id)
    _commit: asyncio.Future[bool] | None = field(default=None, init=False, repr=False)

    @property
    def directory(self) -> str:
        return self.location.attempt_directory(self.id)

    def key(self, node_id: str) -> str:
        return self.location.node_key(node_id, attempt=self.id)

    async def commit(self, manifest: Manifest) -> Manifest:
        """Create manifest.json from `manifest` (which names this attempt) unless one exists; return the committed
        manifest: `manifest`, or the one another attempt committed first."""
        self._commit = asyncio.ensure_future(self.store.put_if_absent(self.location.manifest_key, manifest.to_json()))
        # Shielded: cancelled meanwhile, the write may still land; `abandon` waits for it before it decides.
        if await asyncio.shield(self._commit):
            return manifest
        committed = await read_manifest(self.store, self.location)
        if committed is None:
            raise StorageUnavailable(
                f"{self.store.url}/{self.location.manifest_key} existed when this attempt committed and is gone now "
                "(the snapshot is being deleted?); it will be retried"
            )
        log.info("%s was committed by attempt %s first; attempt %s is dropped", self.location.directory,
                 committed.attempt, self.id)  # fmt: skip
        return committed

    async def abandon(self, *, foreign: bool = False) -> None:
        """Remove this attempt's objects and unfinished uploads, unless they are what the snapshot committed.

        `foreign`: an attempt of another (dead) process, which may have committed before it died. Never raises
        but a cancellation (what it cannot remove goes with a later commit's sweep, or the deletion). Cancelled
        meanwhile — once or many times (a deletion cancels the snapshot, and so does the end of its task) — it
        finishes first and only then ends the task: the deletion, which waits for that task to end before it
        lists what to delete, must never list while this attempt's commit or removal is still in flight."""
        cleanup = asyncio.ensure_future(self._abandon_quietly(foreign))
        cancelled = False
        while not cleanup.done():
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    async def _abandon_quietly(self, foreign: bool) -> None:
        try:
            await self._abandon(foreign)
        except StorageFault as fault:
            log.warning("could not remove the objects of attempt %s under %s: %s", self.id, self.directory, fault)

    async def _abandon(self, foreign: bool) -> None:
        if self._commit is not None and not self._commit.done():
            done, _ = await asyncio.wait({self._commit}, timeout=COMMIT_PATIENCE)
            if not done:
                log.warning("the commit of %s did not settle: its objects are left for a later sweep", self.directory)
                return
        if foreign or self._commit is not None:
            committed = await read_manifest(self.store, self.location)
            if committed is not None and committed.attempt == self.id:
                return  # committed: these objects are the snapshot
        removed = await self.store.delete_prefix(self.directory)
        if removed:
            log.info("removed %d object(s) of attempt %s under %s", removed, self.id, self.location.directory)
