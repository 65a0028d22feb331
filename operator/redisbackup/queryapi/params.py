"""A Query API request's parameters, decoded by the operation's input shape: the inverse of botocore's serializer.

botocore's QuerySerializer writes `SnapshotName=x`, `Tags.Tag.1.Key=team` (a list's members are named by the
member's locationName, else `member`), `TagKeys.member.1=team`, booleans as `true`/`false`, an empty list as
`Tags=`. This module reads exactly that back, driven by the shapes, and refuses what it cannot place: an unknown
parameter, a list index that is not a number, an integer that is not one, a required member that is missing —
each a 4xx that names the parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from redisbackup.queryapi.errors import QueryError, invalid_parameter, missing_parameter

# Parameters of the protocol itself, not of any operation.
ENVELOPE = frozenset({"Action", "Version"})
# AWS's bound on a Query API integer parameter; ours only need small ones.
INTEGER_RANGE = (-(2**31), 2**31 - 1)


class _Form:
    """The decoded form with the keys used so far, so that leftovers can be refused."""

    def __init__(self, form: Mapping[str, Sequence[str]]) -> None:
        self.values = form
        self.used: set[str] = set()

    def take(self, key: str) -> str | None:
        values = self.values.get(key)
        if values is None:
            return None
        self.used.add(key)
        if len(values) != 1:
            raise invalid_parameter(f"The parameter {key} is given {len(values)} times: give it once")
        return values[0]

    def under(self, prefix: str) -> list[str]:
        return [key for key in self.values if key.startswith(prefix)]


def decode(shape: StructureShape | None, form: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The operation's parameters (without Action and Version) as botocore's client would have received them."""
    state = _Form(form)
    state.used.update(ENVELOPE & set(form))
    params = _structure(shape, "", state) if shape is not None else {}
    unknown = sorted(set(form) - state.used)
    if unknown:
        known = ", ".join(shape.members) if shape is not None and shape.members else "none"
        raise invalid_parameter(f"Unknown parameter {unknown[0]}: this action's parameters are {known}")
    return params


def _structure(shape: StructureShape, prefix: str, form: _Form) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _value(member, key, form)
        if value is not None:
            values[name] = value
    for name in shape.required_members:
        if name not in values:
            raise missing_parameter(f"The request must contain the parameter {prefix}{name}")
    return values


def _value(shape: Shape, key: str, form: _Form) -> Any:
    if isinstance(shape, StructureShape):
        if not form.under(key + "."):
            return None
        return _structure(shape, key + ".", form)
    if isinstance(shape, ListShape):
        return _list(shape, key, form)
    text = form.take(key)
    if text is None:
        return None
    return _scalar(shape, key, text)


def _list(shape: ListShape, key: str, form: _Form) -> list[Any] | None:
    empty = form.take(key)  # botocore sends `Name=` for an empty list
    if empty is not None and empty != "":
        raise invalid_parameter(f"The parameter {key} is a list: give its members as {key}.{_member_name(shape)}.N")
    prefix = key + "." if shape.serialization.get("flattened") else f"{key}.{_member_name(shape)}."
    indices: set[int] = set()
    for candidate in form.under(prefix):
        index = candidate[len(prefix) :].split(".", 1)[0]
        if not index.isdigit() or index.startswith("0"):
            raise invalid_parameter(f"The parameter {candidate} has no list index: number members from 1, {prefix}1")
        indices.add(int(index))
    if not indices:
        return [] if empty is not None else None
    return [_value(shape.member, f"{prefix}{index}", form) for index in sorted(indices)]


def _member_name(shape: ListShape) -> str:
    return str(shape.member.serialization.get("name", "member"))


def _scalar(shape: Shape, key: str, text: str) -> Any:
    kind = shape.type_name
    if kind == "string":
        allowed = getattr(shape, "enum", None)
        if allowed and text not in allowed:
            raise invalid_parameter(f"Invalid value {text!r} for parameter {key}: use one of {', '.join(allowed)}")
        return text
    if kind in ("integer", "long"):
        try:
            number = int(text, 10)
        except ValueError:
            raise invalid_parameter(f"Invalid value {text!r} for parameter {key}: it must be an integer") from None
        if not INTEGER_RANGE[0] <= number <= INTEGER_RANGE[1]:
            raise invalid_parameter(f"Invalid value {text!r} for parameter {key}: out of range")
        return number
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise invalid_parameter(f"Invalid value {text!r} for parameter {key}: use true or false")
        return text.lower() == "true"
    if kind == "timestamp":
        try:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise invalid_parameter(
                f"Invalid value {text!r} for parameter {key}: use an ISO 8601 time, e.g. 2015-05-15T10:30:00Z"
            ) from None
    raise QueryError("InvalidParameterValue", f"The parameter {key} has a type this server does not read ({kind})")
