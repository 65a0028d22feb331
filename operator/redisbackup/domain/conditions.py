"""The bookkeeping under every status transition: conditions, observed generations, and minimal patches.

Conditions follow the Kubernetes convention (as `meta.SetStatusCondition` does): one per type, kept in the order of
`ConditionType`; `lastTransitionTime` only moves when a condition's status flips; every condition carries the
generation it was computed from, which never goes back. A `StatusChange` is the JSON merge patch of `.status` that
a transition computes (only what really changes) plus the Kubernetes Event that reports it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from redisbackup.api.status import Condition, ConditionType

Status = Mapping[str, Any]
ConditionValue = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class Notice:
    """A Kubernetes Event to post about the RedisBackup."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class StatusChange:
    patch: dict[str, Any] = field(default_factory=dict)
    """JSON merge patch of `.status` (a None value removes the field)."""
    notice: Notice | None = None

    @property
    def empty(self) -> bool:
        return not self.patch and self.notice is None


def change(status: Status | None, patch: dict[str, Any], notice: Notice | None) -> StatusChange:
    """Drop what is already so; no patch and no notice when nothing changes."""
    current = status or {}
    effective = {key: value for key, value in patch.items() if current.get(key) != value}
    if not effective:
        return StatusChange()
    return StatusChange(effective, notice)


def find(status: Status | None, kind: ConditionType) -> Mapping[str, Any] | None:
    return next((c for c in (status or {}).get("conditions") or [] if c.get("type") == kind), None)


def newest_generation(status: Status | None, generation: int | None) -> int | None:
    """The generation to record: never older than the one already recorded. A snapshot started at generation 1
    ends after the user changed deletionPolicy (generation 2, observed by `mark_observed`); going back to 1 would
    leave kstatus (Flux) reporting the finished backup as InProgress for ever."""
    recorded = (status or {}).get("observedGeneration")
    if isinstance(recorded, int) and (generation is None or recorded > generation):
        return recorded
    return generation


def conditions(
    status: Status | None,
    generation: int | None,
    now: dt.datetime,
    *wanted: tuple[ConditionType, ConditionValue, str, str],
) -> list[dict[str, Any]]:
    """The full condition list: `wanted` (type, status, reason, message) replace theirs, the rest stay."""
    generation = newest_generation(status, generation)
    kinds = {kind for kind, *_ in wanted}
    kept = [dict(c) for c in (status or {}).get("conditions") or [] if c.get("type") not in kinds]
    made = [
        _condition(status, kind, value, reason, message, generation, now) for kind, value, reason, message in wanted
    ]
    order = list(ConditionType)
    return sorted(kept + made, key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))


def observed(status: Status, generation: int) -> list[dict[str, Any]]:
    """Every condition stamped with `generation`, nothing else changed (not even a transition time)."""
    return [
        {**condition, "observedGeneration": generation} if "observedGeneration" in condition else dict(condition)
        for condition in status.get("conditions") or []
    ]


def _time(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    previous: Status | None,
    kind: ConditionType,
    status: ConditionValue,
    reason: str,
    message: str,
    generation: int | None,
    now: dt.datetime,
) -> dict[str, Any]:
    old = find(previous, kind)
    since = _time(now)
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        since = str(old["lastTransitionTime"])
    condition = Condition.model_validate(
        {
            "type": str(kind),
            "status": status,
            "reason": reason,
            "message": message[:32768],
            "observedGeneration": generation,  # already the newest (see conditions)
            "lastTransitionTime": since,
        }
    )
    dumped: dict[str, Any] = condition.model_dump(by_alias=True, exclude_none=True, mode="json")
    dumped["lastTransitionTime"] = since  # keep the API's own second-precision text
    return dumped
