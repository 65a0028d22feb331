"""The reconciler's side of the snapshotName rule: of two RedisBackups with one name, the later one fails.

The webhook checks uniqueness at admission, but two creates can race past it (each lists the namespace before the
other is stored), or pass while no webhook is installed. The reconciler settles it with the order of creation
(creationTimestamp, then uid), which both sides see alike.

It reads the other backups from `BackupIndex`, kept from the operator's watch (no API list per backup), but a
watch only knows what it has delivered so far: a backup created a moment ago may be missing. So the check first
asks the apiserver how many RedisBackups the namespace holds (a consistent list of one item, cheap at any size)
and waits until the index knows at least as many. (Our own index rather than kopf's: kopf holds every object of
an indexed resource until all are indexed, which deadlocks with a bound on its workers — see main.configure.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redisbackup.api.naming import resolved_identifier
from redisbackup.api.validation import ExistingBackup

log = logging.getLogger(__name__)

PATIENCE = 30.0  # seconds the index may lag behind the apiserver before the check goes ahead without it


class Peers(Protocol):
    """The other RedisBackups as seen from one of them."""

    def same_name(self) -> Sequence[ExistingBackup]:
        """Those of its namespace with its snapshotName (ignoring case), itself included."""

    def indexed(self) -> int | None:
        """How many RedisBackups of its namespace are known; None: the list is complete as given."""


@dataclass
class KnownPeers:
    """A fixed list (unit tests, or callers that read the API themselves)."""

    backups: Sequence[ExistingBackup] = field(default_factory=list)

    def same_name(self) -> Sequence[ExistingBackup]:
        return self.backups

    def indexed(self) -> int | None:
        return None


class BackupIndex:
    """Every RedisBackup the operator's watch has delivered (updated on each event), by namespace, then by resolved
    snapshotName and uid: the webhook's and the reconciler's look-ups cost the same with 10 backups or 100,000.
    It keeps `ExistingBackup` records (a few short strings), never the bodies."""

    def __init__(self) -> None:
        self._names: dict[str, dict[str, dict[str, ExistingBackup]]] = {}  # namespace → name → uid → backup
        self._where: dict[tuple[str, str], str] = {}  # (namespace, uid) → the name it is filed under
        self._counts: dict[str, int] = {}
        self._listed: asyncio.Event | None = None  # set once the informers' first listings are all indexed

    def expect_listing(self) -> None:
        """An informer fills this index (handlers.backups): until `mark_listed`, `wait_listed` waits."""
        if self._listed is None:
            self._listed = asyncio.Event()

    def mark_listed(self) -> None:
        self.expect_listing()
        assert self._listed is not None
        self._listed.set()

    def listed(self) -> bool:
        """Whether the first listing is indexed (true when no informer fills the index)."""
        return self._listed is None or self._listed.is_set()

    async def wait_listed(self, patience: float) -> bool:
        """Wait at most `patience` seconds for the first listing to be indexed; whether it is."""
        if self._listed is None or self._listed.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listed.wait(), patience)
        return self._listed.is_set()

    def observe(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        metadata = body.get("metadata") or {}
        namespace, uid = str(metadata.get("namespace") or ""), str(metadata.get("uid") or "")
        if not namespace or not uid:
            return
        self._forget(namespace, uid)
        existing = None if deleted else ExistingBackup.from_body(body)
        if existing is not None:
            name = sys.intern(resolved_identifier(existing.snapshot_name))
            self._names.setdefault(namespace, {}).setdefault(name, {})[uid] = existing
            self._where[(namespace, uid)] = name
            self._counts[namespace] = self._counts.get(namespace, 0) + 1

    def _forget(self, namespace: str, uid: str) -> None:
        name = self._where.pop((namespace, uid), None)
        if name is None:
            return
        names = self._names[namespace]
        del names[name][uid]
        if not names[name]:
            del names[name]
        self._counts[namespace] -= 1
        if not self._counts[namespace]:
            del self._counts[namespace], self._names[namespace]

    def peers(self, namespace: str, snapshot_name: str) -> IndexPeers:
        return IndexPeers(self, namespace, snapshot_name)

    def total(self) -> int:
        return len(self._where)

    def count(self, namespace: str) -> int:
        return self._counts.get(namespace, 0)

    def named(self, namespace: str, snapshot_name: str) -> list[ExistingBackup]:
        same = self._names.get(namespace, {}).get(resolved_identifier(snapshot_name), {})
        return list(same.values())


@dataclass(frozen=True)
class IndexPeers:
    index: BackupIndex
    namespace: str
    snapshot_name: str

    def same_name(self) -> list[ExistingBackup]:
        return self.index.named(self.namespace, self.snapshot_name)

    def indexed(self) -> int:
        return self.index.count(self.namespace)


async def index_caught_up(peers: Peers, count: Callable[[], Awaitable[int]], *, patience: float) -> bool:
    """Whether the index knows (within `patience` seconds) at least as many backups as the apiserver holds now."""
    expected = await count()
    deadline = time.monotonic() + patience
    while (peers.indexed() or 0) < expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def peers_of(
    peers: Peers, count: Callable[[], Awaitable[int]], *, where: str, patience: float = PATIENCE
) -> Sequence[ExistingBackup]:
    """The same-name backups once the index has caught up with the apiserver (or after `patience` seconds)."""
    if peers.indexed() is None:
        return peers.same_name()
    if not await index_caught_up(peers, count, patience=patience):
        log.warning(
            "%s: the index knows %s RedisBackups of the namespace after %.0fs, fewer than the apiserver holds; "
            "checking snapshotName with what it knows",
            where,
            peers.indexed(),
            patience,
        )
    return peers.same_name()
