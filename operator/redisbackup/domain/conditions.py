"""The bookkeeping under every status transition: conditions, observed generations, and what a writer applies.

Conditions follow the Kubernetes convention (as `meta.SetStatusCondition` does): one per type;
`lastTransitionTime` only moves when a condition's status flips; every condition carries the generation it was
computed from, which never goes back. A `StatusChange` is what a transition sets — its part of the status its writer
applies (server-side apply: the conditions it names, merged by type with everyone else's, and the fields it sets;
`merge` is that rule) — plus the Kubernetes Event that reports it, and whether the status already says all of it.
"""

from __future__ import annotations

import copy
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
    """What the transition sets in `.status` (see `merge`): its conditions by type, and fields, None unsetting one."""
    notice: Notice | None = None
    current: bool = False
    """The status it was computed from already says all of it: nothing to write and nothing to tell (the writer
    still remembers the values, so that what it applies next never carries older ones)."""

    @property
    def empty(self) -> bool:
        return self.current or (not self.patch and self.notice is None)


def merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`patch` applied to `target` in place, as the API server combines what a writer applies with the rest.

    Fields merge as in a JSON merge patch (RFC 7386: None removes a key, maps merge, other lists are replaced);
    `conditions` merge by type (the CRD declares them `listType: map` keyed by `type`): a condition of the patch
    updates the one of its type field by field, or is added, and the others stay as they are.
    """
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif key == "conditions" and isinstance(value, list) and isinstance(target.get(key), list):
            kept: list[dict[str, Any]] = target[key]
            for condition in value:
                same = next((c for c in kept if c.get("type") == condition.get("type")), None)
                if same is None:
                    kept.append(copy.deepcopy(dict(condition)))
                else:
                    merge(same, condition)
        elif isinstance(value, Mapping):  # into what is there, or into nothing: its None values never land
            if not isinstance(target.get(key), dict):
                target[key] = {}
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def change(status: Status | None, patch: dict[str, Any], notice: Notice | None) -> StatusChange:
    """The transition's change; `current` (no write, no Event) when the status already shows all of it."""
    before = copy.deepcopy(dict(status or {}))
    if merge(copy.deepcopy(before), patch) == before:
        return StatusChange(patch, None, current=True)
    return StatusChange(patch, notice)


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
    """The `wanted` conditions (type, status, reason, message), in the order of `ConditionType`; the others are
    not a transition's to write (`merge` keeps them)."""
    generation = newest_generation(status, generation)
    made = [
        _condition(status, kind, value, reason, message, generation, now) for kind, value, reason, message in wanted
    ]
    order = list(ConditionType)
    return sorted(made, key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))


def observed(status: Status, generation: int) -> list[dict[str, Any]]:
    """Every condition that records a generation, stamped with `generation` and nothing else: its type and the
    generation alone, so that the rest of each condition stays whoever wrote it (not even a transition time moves)."""
    return [
        {"type": condition["type"], "observedGeneration": generation}
        for condition in status.get("conditions") or []
        if "observedGeneration" in condition and "type" in condition
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
