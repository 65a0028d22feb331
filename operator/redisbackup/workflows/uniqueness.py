"""The reconciler's side of the snapshotName rule: of two RedisBackups with one name, the later one fails.

The webhook checks uniqueness at admission, but two creates can race past it (each lists the namespace before the
other is stored), or pass while no webhook is installed. The reconciler settles it with the order of creation
(creationTimestamp, then uid), which both sides see alike. It reads the other backups from kopf's index (no API
list per backup), but an index only knows what the watch has delivered so far: a backup created a moment ago may
not be in it yet. So it first asks the apiserver how many RedisBackups the namespace holds (a consistent list of
one item, cheap at any size) and waits until the index knows at least as many.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from redisbackup.api.validation import ExistingBackup

log = logging.getLogger(__name__)

PATIENCE = 5.0  # seconds the index may lag behind the apiserver before the check goes ahead without it


class Peers(Protocol):
    """The RedisBackups this operator has indexed, as seen from one of them."""

    def same_name(self) -> Sequence[ExistingBackup]:
        """Those of its namespace with its snapshotName (ignoring case), itself included."""

    def indexed(self) -> int | None:
        """How many RedisBackups of its namespace are indexed; None: the list is complete as given."""


@dataclass
class KnownPeers:
    """A fixed list (unit tests, or callers that read the API themselves)."""

    backups: Sequence[ExistingBackup] = field(default_factory=list)

    def same_name(self) -> Sequence[ExistingBackup]:
        return self.backups

    def indexed(self) -> int | None:
        return None


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
