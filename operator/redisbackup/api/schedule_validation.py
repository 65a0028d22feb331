"""Every admission rule of a RedisBackupSchedule, as pure functions returning *all* violations.

One implementation serves the admission webhook, `redisbackup validate` and the operator's re-check before it
schedules anything (the webhook may not be installed). The source rules are RedisBackup's (`api.naming`), the time
rules are `api.timing`'s; like `api.validation`, the functions take plain dicts, so a manifest that does not even
parse into the model still gets every problem reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from redisbackup.api import naming, timing
from redisbackup.api.faults import FaultCode
from redisbackup.api.schedule_spec import (
    SCHEDULE_SOURCE_FIELDS,
    RedisBackupScheduleSpec,
    name_length_message,
    schedule_no_source_message,
    schedule_sources_message,
    source_immutable_message,
    time_zone_with_window_message,
    timing_both_message,
    timing_none_message,
)
from redisbackup.api.spec import MAX_TAG_KEY_LENGTH, tag_key_message
from redisbackup.api.violations import Violation, from_validation_error

KIND = "RedisBackupSchedule"
_NAMES = {"cacheClusterId": naming.CACHE_CLUSTER_ID, "replicationGroupId": naming.REPLICATION_GROUP_ID}
# Pydantic repeats, in its own words, what the naming and time rules below say better.
_COVERED = {
    "cacheClusterId": {"string_too_short", "string_too_long", "string_pattern_mismatch"},
    "replicationGroupId": {"string_too_short", "string_too_long", "string_pattern_mismatch"},
    "snapshotWindow": {"string_pattern_mismatch"},
    "timeZone": {"string_pattern_mismatch"},
}
MAX_NAME_LENGTH = 63


def _has(spec: Mapping[str, Any], key: str) -> bool:
    return spec.get(key) is not None  # a YAML `key: null` is absent, as the apiserver prunes it


def _value(code: FaultCode, field: str, message: str) -> Violation:
    return Violation(code, field, message)


def check_schedule_spec(spec: object) -> list[Violation]:
    """Every violation in a schedule's spec: the source, when it runs, retention, and the shape of every field."""
    if not isinstance(spec, Mapping):
        what = "missing" if spec is None else "not a mapping of fields"
        return [
            _value(
                FaultCode.INVALID_PARAMETER_VALUE,
                "spec",
                f"spec is {what}: give a spec with cacheClusterId or replicationGroupId and schedule or "
                "snapshotWindow (see `kubectl explain redisbackupschedule.spec`)",
            )
        ]
    violations = _names(spec) + _combinations(spec) + _timing(spec) + _tag_keys(spec)
    try:
        RedisBackupScheduleSpec.model_validate(spec)
    except ValidationError as error:
        for violation, detail in zip(from_validation_error("spec", error, KIND), error.errors(), strict=True):
            top = str(detail["loc"][0]) if detail["loc"] else ""
            if detail["type"] not in _COVERED.get(top, set()) or len(detail["loc"]) > 1:
                violations.append(violation)
    return violations


def _names(spec: Mapping[str, Any]) -> list[Violation]:
    found = []
    for key, kind in _NAMES.items():
        value = spec.get(key)
        if isinstance(value, str):
            found += [
                _value(FaultCode.INVALID_PARAMETER_VALUE, kind.field, kind.message(rule))
                for rule in kind.broken_rules(value)
            ]
    return found


def _combinations(spec: Mapping[str, Any]) -> list[Violation]:
    code = FaultCode.INVALID_PARAMETER_COMBINATION
    found = []
    sources = [key for key in SCHEDULE_SOURCE_FIELDS if _has(spec, key)]
    if len(sources) != 1:
        found.append(_value(code, "spec", schedule_sources_message() if sources else schedule_no_source_message()))
    timings = [key for key in ("schedule", "snapshotWindow") if _has(spec, key)]
    if len(timings) != 1:
        found.append(_value(code, "spec", timing_both_message() if timings else timing_none_message()))
    if _has(spec, "timeZone") and _has(spec, "snapshotWindow"):
        found.append(_value(code, "spec.timeZone", time_zone_with_window_message()))
    return found


def _timing(spec: Mapping[str, Any]) -> list[Violation]:
    code = FaultCode.INVALID_PARAMETER_VALUE
    checks = (
        ("schedule", timing.cron_problem),
        ("snapshotWindow", timing.window_problem),
        ("timeZone", timing.time_zone_problem),
    )
    found = []
    for key, problem_of in checks:
        value = spec.get(key)
        if isinstance(value, str) and (problem := problem_of(value)) is not None:
            found.append(_value(code, f"spec.{key}", f"spec.{key} {problem}"))
    return found


def _tag_keys(spec: Mapping[str, Any]) -> list[Violation]:
    template = spec.get("template")
    tags = template.get("tags") if isinstance(template, Mapping) else None
    if isinstance(tags, Mapping) and any(not 1 <= len(str(key)) <= MAX_TAG_KEY_LENGTH for key in tags):
        field = "spec.template.tags"
        return [_value(FaultCode.INVALID_PARAMETER_VALUE, field, tag_key_message(field))]
    return []


def _check_name(body: Mapping[str, Any]) -> list[Violation]:
    name = (body.get("metadata") or {}).get("name")
    if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        return [_value(FaultCode.INVALID_PARAMETER_VALUE, "metadata.name", name_length_message())]
    return []


def check_schedule_create(body: Mapping[str, Any]) -> list[Violation]:
    """All violations of a schedule about to be created (the webhook's CREATE, `validate`, the operator)."""
    return _check_name(body) + check_schedule_spec(body.get("spec"))


def check_schedule_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Violation]:
    """Violations of an update: a changed source, or a bad value in a field that changed (unchanged fields are not
    re-checked, so a tightened rule never blocks the metadata updates of an older schedule)."""
    old_spec, new_spec = old.get("spec"), new.get("spec")
    if old_spec == new_spec or not isinstance(old_spec, Mapping) or not isinstance(new_spec, Mapping):
        return [] if old_spec == new_spec else check_schedule_spec(new_spec)
    changed = {key for key in set(old_spec) | set(new_spec) if old_spec.get(key) != new_spec.get(key)}
    violations = [
        _value(FaultCode.INVALID_PARAMETER_VALUE, f"spec.{key}", source_immutable_message(key))
        for key in SCHEDULE_SOURCE_FIELDS
        if key in changed
    ]
    for violation in check_schedule_spec(new_spec):
        parts = violation.field.split(".")
        # A rule on the combination of fields (field "spec") holds for every spec, old ones included.
        if len(parts) == 1 or parts[1] in changed:
            violations.append(violation)
    return violations


def schedule_warnings(spec: object) -> list[str]:
    """Advice that does not block: case-insensitive identifiers, no retention at all, retention 0."""
    if not isinstance(spec, Mapping):
        return []
    found = []
    for key, kind in _NAMES.items():
        value = spec.get(key)
        if isinstance(value, str) and kind.is_valid(value) and value != naming.resolved_identifier(value):
            found.append(
                f'spec.{key} "{value}" is case-insensitive, as in ElastiCache: the operator looks for '
                f'"{naming.resolved_identifier(value)}"'
            )
    if not _has(spec, "keepLast") and not _has(spec, "snapshotRetentionLimit"):
        found.append(
            "neither spec.keepLast nor spec.snapshotRetentionLimit is set: automated backups are kept until the "
            "schedule is deleted; set one to prune them"
        )
    if spec.get("snapshotRetentionLimit") == 0:
        found.append(
            "spec.snapshotRetentionLimit 0 turns automatic backups off, as in ElastiCache: no new runs (to pause, use "
            "spec.suspend)"
        )
    return found
