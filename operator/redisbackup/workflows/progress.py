"""Progress of a snapshot across its nodes, reported through one callback at a bounded rate."""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[int, int | None], None]
"""progress(bytes_done, bytes_total_or_None): the total is known only when every node sent a `$<len>` header."""


class ProgressTracker:
    """Sums bytes over nodes and calls `report` at most every `interval` seconds (and always at the end)."""

    def __init__(self, report: Progress | None, node_ids: list[str], *, interval: float = 0.5) -> None:
        self._report = report
        self._interval = interval
        self._done = dict.fromkeys(node_ids, 0)
        self._totals: dict[str, int | None] = dict.fromkeys(node_ids)
        self._started: set[str] = set()
        self._last = 0.0

    @property
    def bytes_done(self) -> int:
        return sum(self._done.values())

    @property
    def bytes_total(self) -> int | None:
        if len(self._started) < len(self._totals) or any(t is None for t in self._totals.values()):
            return None
        return sum(t for t in self._totals.values() if t is not None)

    def started(self, node_id: str, total: int | None) -> None:
        self._started.add(node_id)
        self._totals[node_id] = total
        self._emit(force=True)

    def add(self, node_id: str, count: int) -> None:
        self._done[node_id] += count
        self._emit(force=False)

    def finished(self) -> None:
        self._emit(force=True)

    def _emit(self, *, force: bool) -> None:
        if self._report is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._report(self.bytes_done, self.bytes_total)
