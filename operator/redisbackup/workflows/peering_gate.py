"""Pausing the work of our informer of RedisBackups while kopf's peering pauses this operator.

kopf pauses its own watchers (and daemons) while another operator of the same peering has a higher priority, through
a toggle it keeps to itself; our informer is not kopf's, so this gate watches the same peering objects (an informer
of each, fed to `observe`) and applies kopf's rule (domain.peering) on every change, and every `interval` seconds
for peers whose lifetime ran out. While closed, the informer still keeps the index complete (the webhook of a paused
replica answers too), but no snapshot, finalizer, deletion or spec observation starts here; work already running
finishes, fenced by the source's snapshotting lease (k8s.locks) as before. When it opens, `on_open` is called (the
informers list again, which hands every RedisBackup over to start its work).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from redisbackup.domain.peering import must_pause

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between re-evaluations for expired peers (kopf's peers are alive for 60 s by default)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PeeringGate:
    def __init__(
        self,
        *,
        identity: str | None,
        priority: int,
        on_open: Callable[[], None] = lambda: None,
        interval: float = INTERVAL,
        now: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.identity = identity
        self.priority = priority
        self.on_open = on_open
        self.interval = interval
        self._now = now
        self._peerings: dict[str, Mapping[str, Any]] = {}  # the peering object's uid → its peers
        self.open = True

    def __call__(self) -> bool:
        """Whether work may start now."""
        return self.open

    async def observe(self, type_: str, body: Mapping[str, Any]) -> None:
        """An informer's event of a peering object."""
        uid = str((body.get("metadata") or {}).get("uid"))
        if type_ == "DELETED":
            self._peerings.pop(uid, None)
        else:
            status = body.get("status")
            self._peerings[uid] = status if isinstance(status, Mapping) else {}
        self.decide()

    def decide(self) -> None:
        paused = must_pause(self._peerings.values(), identity=self.identity, priority=self.priority, now=self._now())
        if paused == (not self.open):
            return
        self.open = not paused
        if paused:
            log.info("pausing the RedisBackups' work in favour of a peer (kopf peering)")
        else:
            log.info("resuming the RedisBackups' work: no peer takes precedence any more (kopf peering)")
            self.on_open()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.decide()
