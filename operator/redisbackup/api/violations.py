"""`Violation`: one broken rule of a RedisBackup, and the translation of pydantic's errors into violations.

Pydantic checks the shape of the spec (types, enums, ranges, unknown fields) exactly as the CRD schema does,
because the schema is generated from the same models; its messages are rewritten here so that each one names
the field and the rule and says what to do, like every other rejection of ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from redisbackup.api import naming
from redisbackup.api.faults import FaultCode
from redisbackup.api.spec import MAX_TAGS


@dataclass(frozen=True)
class Violation:
    """A rule the RedisBackup breaks: the fault code users see first, the field, and what to do."""

    code: FaultCode
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"fault": str(self.code), "field": self.field, "message": self.message}


def field_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _explain(field: str, resource: str = "RedisBackup") -> str:
    # Map keys (tag names) are not fields kubectl can explain: point at the map itself.
    documented = field.split(".tags.", 1)[0] + ".tags" if ".tags." in field else field
    return f"see `kubectl explain {resource.lower()}.{documented}`"


def _last(field: str) -> str:
    return field.rsplit(".", 1)[-1]


def _message(field: str, error: ErrorDetails, resource: str = "RedisBackup") -> tuple[FaultCode, str]:
    code, message = _rewritten(field, error, resource)
    return code, message.replace("(see `kubectl explain redisbackup.", f"(see `kubectl explain {resource.lower()}.")


def _rewritten(field: str, error: ErrorDetails, resource: str) -> tuple[FaultCode, str]:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        if field == naming.SNAPSHOT_NAME.field:
            return FaultCode.INVALID_PARAMETER_VALUE, (
                f"{field} is required: name the snapshot with 1 to {naming.SNAPSHOT_NAME_MAX_LENGTH} ASCII letters, "
                "digits or hyphens, beginning with a letter"
            )
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} is required: set it ({_explain(field)})"
    if kind == "extra_forbidden":
        parent = field.rsplit(".", 1)[0]
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} is not a field of a {resource}: remove it or correct its spelling ({_explain(parent, resource)})"
        )
    if kind == "too_long" and _last(field) == "tags":
        return FaultCode.TAG_QUOTA_PER_RESOURCE_EXCEEDED, (
            f"{field} has {len(error['input'])} tags; a snapshot may have at most {MAX_TAGS}: remove some"
        )
    simple = {
        "string_type": "must be a string: quote the value",
        "int_type": "must be a whole number",
        "bool_type": "must be true or false",
        "dict_type": "must be a mapping of fields",
        "model_type": "must be a mapping of fields",
        "model_attributes_type": "must be a mapping of fields",
    }
    if kind in simple:
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} {simple[kind]} ({_explain(field)})"
    if kind in {"enum", "literal_error"}:
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} must be {ctx.get('expected')}: use one of these values"
    if kind in {"greater_than_equal", "less_than_equal"} and _last(field) == "port":
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} must be a port number from 1 to 65535"
    if kind == "greater_than_equal" and _last(field) == "snapshotRetentionLimit":
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} must be a number of days from 0 to 35, as in ElastiCache"
    if kind == "less_than_equal" and _last(field) == "snapshotRetentionLimit":
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} must be a number of days from 0 to 35, as ElastiCache's SnapshotRetentionLimit; keep backups "
            "longer by copying them (copy-snapshot), or with keepLast"
        )
    if kind == "greater_than_equal":
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} must be at least {ctx.get('ge')} ({_explain(field)})"
    if kind == "less_than_equal":
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} must be at most {ctx.get('le')} ({_explain(field)})"
    if kind in {"string_too_short", "string_too_long", "string_pattern_mismatch"} and _last(field) == "storage":
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} must be the name of a storage location: 1 to 63 lower-case letters, digits or hyphens, "
            "beginning and ending with a letter or digit"
        )
    if kind in {"string_too_short", "string_too_long", "string_pattern_mismatch"} and field == "spec.sourceNamespace":
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} must be the name of a namespace: 1 to 63 lower-case letters, digits or hyphens, beginning and "
            "ending with a letter or digit"
        )
    if kind == "string_pattern_mismatch" and field.lower().endswith("secretref.name"):
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} must be the name of a Secret in the RedisBackup's own namespace: lower-case letters, digits, "
            "'-' and '.', beginning and ending with a letter or digit (no namespace/ prefix: Secrets are only read "
            "from the RedisBackup's namespace)"
        )
    if kind == "string_pattern_mismatch" and field.lower().endswith("secretref.key"):
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} must be a key of the Secret's data: letters, digits, '-', '_' and '.' only"
        )
    if kind == "string_too_short":
        return FaultCode.INVALID_PARAMETER_VALUE, f"{field} is empty: give it a value"
    if kind == "string_too_long":
        return FaultCode.INVALID_PARAMETER_VALUE, (
            f"{field} is longer than {ctx.get('max_length')} characters: shorten it"
        )
    detail = error["msg"][0].lower() + error["msg"][1:]
    return FaultCode.INVALID_PARAMETER_VALUE, f"{field}: {detail}: correct the value ({_explain(field)})"


def from_validation_error(prefix: str, error: ValidationError, resource: str = "RedisBackup") -> list[Violation]:
    violations = []
    for detail in error.errors(include_url=False):
        field = field_path(prefix, detail["loc"])
        code, message = _message(field, detail, resource)
        violations.append(Violation(code, field, message))
    return violations
