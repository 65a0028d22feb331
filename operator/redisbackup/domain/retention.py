"""Which of a schedule's automated backups retention deletes, and why (pure; the schedule workflow deletes them).

- Only the schedule's own finished automated backups are candidates (available or failed); a backup still being
  taken, one already being deleted, and every manual backup are never touched — the caller passes only what
  `domain.automated.belongs_to` the schedule.
- keepLast N: everything older than the N-th newest *available* backup goes; failed ones older than that too (they
  hold no data, and newer backups are there).
- snapshotRetentionLimit D (ElastiCache's): everything whose slot is more than D days old goes. D = 0 means
  automatic backups are off (no new runs), not "delete everything": the age rule is then not applied.
- The newest available backup is never deleted, whatever the rules say: a schedule whose runs now fail keeps its
  last good snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

TERMINAL = ("available", "failed")


@dataclass(frozen=True)
class AutomatedBackup:
    name: str
    slot: dt.datetime
    phase: str | None
    deleting: bool = False

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL and not self.deleting


@dataclass(frozen=True)
class Pruned:
    name: str
    reason: str


def to_prune(
    backups: Sequence[AutomatedBackup], *, keep_last: int | None, retention_days: int | None, now: dt.datetime
) -> list[Pruned]:
    """The backups to delete, oldest first, each with the rule that deletes it."""
    available = sorted((b for b in backups if b.phase == "available" and not b.deleting), key=lambda b: b.slot)
    newest = available[-1].name if available else None
    count_cutoff = available[-keep_last].slot if keep_last and len(available) >= keep_last else None
    age_cutoff = now - dt.timedelta(days=retention_days) if retention_days else None
    pruned = []
    for backup in sorted(backups, key=lambda b: b.slot):
        if not backup.finished or backup.name == newest:
            continue
        if count_cutoff is not None and backup.slot < count_cutoff:
            pruned.append(Pruned(backup.name, f"keepLast is {keep_last} and {keep_last} newer ones are available"))
        elif age_cutoff is not None and backup.slot < age_cutoff:
            pruned.append(Pruned(backup.name, f"older than snapshotRetentionLimit ({retention_days} day(s))"))
    return pruned
