"""CEL validation rules (`x-kubernetes-validations`) whose messages read like our webhook's rejections."""

from __future__ import annotations

from typing import Any

from redisbackup.api.faults import FaultCode


def cel_rule(rule: str, code: FaultCode, message: str, *, field_path: str | None = None) -> dict[str, str]:
    """One CEL rule; its message is prefixed with the fault code exactly as the webhook prints a violation."""
    entry = {"rule": rule, "message": f"{code}: {message}"}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """A `json_schema_extra` carrying CEL rules into the generated CRD."""
    return {"x-kubernetes-validations": list(rules)}
