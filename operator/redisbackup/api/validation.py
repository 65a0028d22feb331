"""Every admission rule of a RedisBackup, as pure functions returning *all* violations.

One implementation serves the admission webhook, `redisbackup validate` and the reconciler's re-check, so they
cannot disagree. The functions take plain dicts (the body as the apiserver or a YAML file gives it), not
models: a bad manifest may not even parse into a model, and every problem in it must still be reported.

The uniqueness rule (SnapshotAlreadyExistsFault) needs the other RedisBackups of the namespace; it takes them as
`ExistingBackup`s so that the lookup stays in the k8s layer (or, for `validate`, in the other documents).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from redisbackup.api import naming
from redisbackup.api.faults import FaultCode
from redisbackup.api.spec import (
    MAX_TAG_KEY_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    MAX_TAGS,
    REDIS_SOURCE_SETTINGS,
    SOURCE_FIELDS,
    RedisBackupSpec,
    both_sources_message,
    copy_settings_message,
    immutable_fields,
    immutable_message,
    no_source_message,
    tag_key_message,
)
from redisbackup.api.violations import Violation, from_validation_error

_NAMES = {
    "snapshotName": naming.SNAPSHOT_NAME,
    "cacheClusterId": naming.CACHE_CLUSTER_ID,
    "replicationGroupId": naming.REPLICATION_GROUP_ID,
    "sourceSnapshotName": naming.SOURCE_SNAPSHOT_NAME,
}
# Pydantic repeats the naming rules through the schema constraints; the naming rules say it better.
_COVERED_BY_NAMING_RULES = {"string_too_short", "string_too_long", "string_pattern_mismatch"}


@dataclass(frozen=True)
class ExistingBackup:
    """Another RedisBackup of the same namespace, as far as the uniqueness rule cares."""

    name: str
    snapshot_name: str
    created: str = ""
    """metadata.creationTimestamp (RFC 3339, UTC: compares as text); empty when not yet created."""
    uid: str = ""
    deleting: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ExistingBackup | None:
        """The uniqueness-relevant part of a RedisBackup body, or None when it has no usable snapshotName."""
        metadata = body.get("metadata") or {}
        spec = body.get("spec") or {}
        snapshot_name = spec.get("snapshotName") if isinstance(spec, Mapping) else None
        if not isinstance(metadata, Mapping) or not isinstance(snapshot_name, str):
            return None
        return cls(
            name=str(metadata.get("name") or ""),
            snapshot_name=snapshot_name,
            created=str(metadata.get("creationTimestamp") or ""),
            uid=str(metadata.get("uid") or ""),
            deleting=bool(metadata.get("deletionTimestamp")),
        )

    def created_before(self, other: ExistingBackup) -> bool:
        """Whether this one came first; the reconciler keeps the first of two racing creates."""
        return (self.created, self.uid) < (other.created, other.uid)


def check_spec(spec: object) -> list[Violation]:
    """Every violation in a RedisBackup's spec: names, the source combination, and the shape of other fields."""
    if not isinstance(spec, Mapping):
        what = "missing" if spec is None else "not a mapping of fields"
        return [
            Violation(
                FaultCode.INVALID_PARAMETER_VALUE,
                "spec",
                f"spec is {what}: give a spec with snapshotName and cacheClusterId, replicationGroupId or "
                "sourceSnapshotName "
                "(see `kubectl explain redisbackup.spec`)",
            )
        ]
    violations = _check_names(spec) + _check_source(spec) + _check_copy(spec) + _check_tag_keys(spec)
    try:
        RedisBackupSpec.model_validate(spec)
    except ValidationError as error:
        violations += [
            v
            for v, detail in zip(from_validation_error("spec", error), error.errors(), strict=True)
            if not (detail["loc"][:1] and detail["loc"][0] in _NAMES and detail["type"] in _COVERED_BY_NAMING_RULES)
        ]
    return violations


def _check_names(spec: Mapping[str, Any]) -> list[Violation]:
    violations = []
    for key, kind in _NAMES.items():
        value = spec.get(key)
        if isinstance(value, str):
            code = FaultCode.INVALID_PARAMETER_VALUE
            violations += [Violation(code, kind.field, kind.message(rule)) for rule in kind.broken_rules(value)]
    return violations


def _has(spec: Mapping[str, Any], key: str) -> bool:
    # A YAML `key: null` is absent: the apiserver prunes nulls of non-nullable fields before validating.
    return spec.get(key) is not None


def _check_source(spec: Mapping[str, Any]) -> list[Violation]:
    given = [key for key in SOURCE_FIELDS if _has(spec, key)]
    if len(given) == 1:
        return []
    message = both_sources_message() if given else no_source_message()
    return [Violation(FaultCode.INVALID_PARAMETER_COMBINATION, "spec", message)]


def _check_copy(spec: Mapping[str, Any]) -> list[Violation]:
    if _has(spec, "sourceSnapshotName") and any(_has(spec, key) for key in REDIS_SOURCE_SETTINGS):
        return [Violation(FaultCode.INVALID_PARAMETER_COMBINATION, "spec", copy_settings_message())]
    return []


def _check_tag_keys(spec: Mapping[str, Any]) -> list[Violation]:
    tags = spec.get("tags")
    if isinstance(tags, Mapping) and any(not 1 <= len(str(key)) <= MAX_TAG_KEY_LENGTH for key in tags):
        return [Violation(FaultCode.INVALID_PARAMETER_VALUE, "spec.tags", tag_key_message())]
    return []


def check_tags(tags: Mapping[str, str], *, field: str = "spec.tags") -> list[Violation]:
    """The rules of ElastiCache tags on any resource (a snapshot's spec.tags, a workload's tags annotation)."""
    violations = []
    if len(tags) > MAX_TAGS:
        violations.append(
            Violation(
                FaultCode.TAG_QUOTA_PER_RESOURCE_EXCEEDED,
                field,
                f"{field} would have {len(tags)} tags; a resource may have at most {MAX_TAGS}: remove some",
            )
        )
    if any(not 1 <= len(key) <= MAX_TAG_KEY_LENGTH for key in tags):
        violations.append(Violation(FaultCode.INVALID_PARAMETER_VALUE, field, tag_key_message()))
    long_values = sorted(key for key, value in tags.items() if len(value) > MAX_TAG_VALUE_LENGTH)
    if long_values:
        violations.append(
            Violation(
                FaultCode.INVALID_PARAMETER_VALUE,
                field,
                f"{field} value of tag {long_values[0]!r} is longer than {MAX_TAG_VALUE_LENGTH} characters: shorten it",
            )
        )
    return violations


def check_unique(
    body: Mapping[str, Any], existing: Iterable[ExistingBackup], *, namespace: str | None = None
) -> list[Violation]:
    """SnapshotAlreadyExistsFault when another RedisBackup already has this snapshotName (ignoring case).

    `existing` are the namespace's RedisBackups; an entry with this object's own name is the object itself (an
    apply of an unchanged manifest) and is skipped.
    """
    this = ExistingBackup.from_body(body)
    if this is None:
        return []
    where = f'namespace "{namespace}"' if namespace else "this namespace"
    for other in existing:
        if (other.name and other.name == this.name) or not naming.same_snapshot_name(
            other.snapshot_name, this.snapshot_name
        ):
            continue
        message = (
            f'spec.snapshotName "{this.snapshot_name}" is already used by RedisBackup "{other.name}" in {where} '
            "(snapshot names are unique per namespace, ignoring case): choose another snapshotName"
        )
        if other.deleting:
            message += f', or wait until RedisBackup "{other.name}" has finished deleting'
        return [Violation(FaultCode.SNAPSHOT_ALREADY_EXISTS, naming.SNAPSHOT_NAME.field, message)]
    return []


def check_create(
    body: Mapping[str, Any], existing: Iterable[ExistingBackup] = (), *, namespace: str | None = None
) -> list[Violation]:
    """All violations of a RedisBackup about to be created (the webhook's CREATE, `validate`, the reconciler)."""
    violations = check_spec(body.get("spec"))
    if not any(v.field == naming.SNAPSHOT_NAME.field for v in violations):
        violations += check_unique(body, existing, namespace=namespace)
    return violations


def check_admitted(
    body: Mapping[str, Any], others: Iterable[ExistingBackup], *, namespace: str | None = None
) -> list[Violation]:
    """The reconciler's re-check of a RedisBackup already stored: every rule of a create, counting for uniqueness
    only the RedisBackups created before it.

    Two creates racing each other can both pass the webhook; this way the later one fails with
    SnapshotAlreadyExistsFault and the earlier one is left alone, whichever the reconciler sees first.
    """
    this = ExistingBackup.from_body(body)
    earlier = [other for other in others if this is None or other.created_before(this)]
    return check_create(body, earlier, namespace=namespace)


def check_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Violation]:
    """Violations of an update: a changed immutable field, or a bad value in a field that changed.

    Unchanged fields are not re-checked (as the apiserver's validation ratcheting does), so tightening a rule
    never blocks the metadata updates — finalizer removal above all — of objects created under the old rule.
    """
    old_spec, new_spec = old.get("spec"), new.get("spec")
    if old_spec == new_spec or not isinstance(old_spec, Mapping) or not isinstance(new_spec, Mapping):
        return [] if old_spec == new_spec else check_spec(new_spec)
    changed = {key for key in set(old_spec) | set(new_spec) if old_spec.get(key) != new_spec.get(key)}
    violations = [
        Violation(FaultCode.INVALID_PARAMETER_VALUE, f"spec.{key}", immutable_message(key))
        for key in immutable_fields()
        if key in changed
    ]
    violations += [v for v in check_spec(new_spec) if v.field.split(".")[1:2] and v.field.split(".")[1] in changed]
    return violations


def warnings(spec: object) -> list[str]:
    """Advice that does not block: an identifier that will be resolved in lower case."""
    if not isinstance(spec, Mapping):
        return []
    found = []
    for key in SOURCE_FIELDS:
        value = spec.get(key)
        kind = _NAMES[key]
        if isinstance(value, str) and kind.is_valid(value) and value != naming.resolved_identifier(value):
            found.append(
                f'spec.{key} "{value}" is case-insensitive, as in ElastiCache: the operator looks for '
                f'"{naming.resolved_identifier(value)}"'
            )
    return found
