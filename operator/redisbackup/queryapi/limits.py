"""Request rates bounded per client: token buckets, one per key (a remote address, an access key id).

A bucket holds up to `burst` requests and refills at `rate` per second; a request finds it empty → Throttling
(400), which botocore and the aws CLI answer by backing off and retrying. Idle buckets are dropped, so a flood of
made-up keys cannot grow memory without bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    rate: float
    """Requests per second each key may make, on average."""
    burst: int
    """Requests a key may make at once after a quiet period."""
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, last refill)

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._forget_full(now)
        return allowed

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled completely: forgetting them changes nothing."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[key]
        if len(self._buckets) > self.max_keys:  # all busy: keep the newest half rather than grow
            for key in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[key]
