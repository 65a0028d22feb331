"""Whether this operator must pause in favour of its peers, by kopf's rule (kopf._core.engines.peering).

A kopf peering object's status lists every operator sharing the work: `{identity: {priority, lifetime, lastseen}}`.
An operator pauses while another live one has a higher priority, or the same one (then kopf pauses them all). kopf
pauses its own watchers by that rule; our informer of RedisBackups (handlers.backups) pauses its work by it too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from redisbackup.domain.automated import parse_time


def live_peers(peers: Mapping[str, Any], now: dt.datetime) -> dict[str, int]:
    """The identities of the peers still alive at `now` (lastseen + lifetime), with their priorities."""
    alive = {}
    for identity, info in peers.items():
        if not isinstance(info, Mapping):
            continue
        seen = parse_time(info.get("lastseen"))
        lifetime = dt.timedelta(seconds=int(info.get("lifetime") or 60))
        if seen is None or seen + lifetime > now:
            alive[str(identity)] = int(info.get("priority") or 0)
    return alive


def must_pause(peerings: Iterable[Mapping[str, Any]], *, identity: str | None, priority: int, now: dt.datetime) -> bool:
    """`peerings`: the status of each peering object this operator is in (one, or one per namespace: any pauses).
    `identity`: ours as kopf writes it (POD_ID), or None when it is kopf's generated one, which cannot be known
    from here: then one live entry at our priority is taken to be ours."""
    for peers in peerings:
        alive = live_peers(peers, now)
        if identity is not None:
            alive.pop(identity, None)
        higher = [p for p in alive.values() if p > priority]
        same = sum(1 for p in alive.values() if p == priority)
        if higher or same > (0 if identity is not None else 1):
            return True
    return False
