"""Query API responses rendered from the service model's output shapes (never from templates).

    <CreateSnapshotResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/">
      <CreateSnapshotResult><Snapshot>…</Snapshot></CreateSnapshotResult>
      <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
    </CreateSnapshotResponse>

Element names come from the shapes (a list's members are `<Snapshot>`, `<NodeSnapshot>`, `<Tag>` … as their
locationName says, else `<member>`), members are written in the model's order, and a value the shape does not
allow is a programming error raised here — an unknown member, a missing required one, a string outside an enum, a
boolean where an integer belongs — so a mistake in the core fails a test instead of confusing a client.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import ListShape, OperationModel, Shape, StructureShape

from redisbackup.queryapi.errors import QueryError
from redisbackup.queryapi.model import xml_namespace


class ShapeMismatch(ValueError):
    """A value does not fit the model's shape (a bug in the caller, never a client's mistake)."""


def render_result(operation: OperationModel, result: Mapping[str, Any], request_id: str) -> bytes:
    root = ET.Element(f"{operation.name}Response", xmlns=xml_namespace())
    shape = operation.output_shape
    if shape is not None:
        wrapper = ET.SubElement(root, shape.serialization.get("resultWrapper", f"{operation.name}Result"))
        _members(wrapper, shape, result, shape.name)
    elif result:
        raise ShapeMismatch(f"{operation.name} has no output, but a result was given: {sorted(result)}")
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return _bytes(root)


def render_error(error: QueryError, request_id: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=xml_namespace())
    body = ET.SubElement(root, "Error")
    ET.SubElement(body, "Type").text = "Sender" if error.sender else "Receiver"
    ET.SubElement(body, "Code").text = error.code
    ET.SubElement(body, "Message").text = error.message
    ET.SubElement(root, "RequestId").text = request_id
    return _bytes(root)


def _bytes(root: ET.Element) -> bytes:
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _members(parent: ET.Element, shape: StructureShape, value: Mapping[str, Any], path: str) -> None:
    if not isinstance(value, Mapping):
        raise ShapeMismatch(f"{path}: expected a structure ({shape.name}), got {type(value).__name__}")
    unknown = set(value) - set(shape.members)
    if unknown:
        raise ShapeMismatch(f"{path}: {sorted(unknown)} are not members of {shape.name}")
    missing = [name for name in shape.required_members if value.get(name) is None]
    if missing:
        raise ShapeMismatch(f"{path}: required members {missing} of {shape.name} are missing")
    for name, member in shape.members.items():
        item = value.get(name)
        if item is not None:
            _element(parent, member.serialization.get("name", name), member, item, f"{path}.{name}")


def _element(parent: ET.Element, tag: str, shape: Shape, value: Any, path: str) -> None:
    if isinstance(shape, ListShape):
        _list(parent, tag, shape, value, path)
        return
    node = ET.SubElement(parent, tag)
    if isinstance(shape, StructureShape):
        _members(node, shape, value, path)
    else:
        node.text = _scalar(shape, value, path)


def _list(parent: ET.Element, tag: str, shape: ListShape, value: Any, path: str) -> None:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ShapeMismatch(f"{path}: expected a list ({shape.name}), got {type(value).__name__}")
    member_tag = shape.member.serialization.get("name", "member")
    if shape.serialization.get("flattened"):
        for index, item in enumerate(value):
            _element(parent, tag, shape.member, item, f"{path}[{index}]")
        return
    container = ET.SubElement(parent, tag)
    for index, item in enumerate(value):
        _element(container, member_tag, shape.member, item, f"{path}[{index}]")


def _scalar(shape: Shape, value: Any, path: str) -> str:
    kind = shape.type_name
    if kind == "string" and isinstance(value, str):
        allowed = getattr(shape, "enum", None)
        if allowed and value not in allowed:
            raise ShapeMismatch(f"{path}: {value!r} is not one of {shape.name}'s values {allowed}")
        return value
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "timestamp":
        return _timestamp(value, path)
    raise ShapeMismatch(f"{path}: {value!r} does not fit {shape.name} ({kind})")


def _timestamp(value: Any, path: str) -> str:
    """ISO 8601 in UTC with milliseconds, as ElastiCache writes times (2017-01-12T18:59:48.048Z)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ShapeMismatch(f"{path}: {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ShapeMismatch(f"{path}: {value!r} is not a time with a time zone")
    utc = value.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
