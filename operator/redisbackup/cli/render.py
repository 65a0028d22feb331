"""The output formats of the ElastiCache-shaped commands, as `aws --output json|yaml|table` prints them.

json: indented by 4, keys in the API's order (aws's default). yaml: block style, keys in order. table: aws's
boxed layout — a titled box per object, its scalar fields as `key | value` rows, nested objects and lists of
objects as titled boxes inside it, one border deeper.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

FORMATS = ("json", "yaml", "table")


def render(document: Mapping[str, Any], output: str, *, title: str) -> str:
    if output == "json":
        return json.dumps(document, indent=4, ensure_ascii=False)
    if output == "yaml":
        return yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=120).rstrip("\n")
    if output == "table":
        return "\n".join(table(title, document))
    raise ValueError(f"unknown output format {output!r}")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)


def _parts(value: Mapping[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, Mapping[str, Any]]]]:
    """Rows of scalars (lists of scalars joined), and the nested objects in order (lists of objects flattened)."""
    rows: list[tuple[str, str]] = []
    nested: list[tuple[str, Mapping[str, Any]]] = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            nested.append((key, item))
        elif isinstance(item, Sequence) and not isinstance(item, str | bytes):
            objects = [element for element in item if isinstance(element, Mapping)]
            scalars = [_scalar(element) for element in item if not isinstance(element, Mapping)]
            nested.extend((key, element) for element in objects)
            if scalars:
                rows.append((key, ", ".join(scalars)))
        else:
            rows.append((key, _scalar(item)))
    return rows, nested


def _width(title: str, value: Mapping[str, Any]) -> int:
    """The narrowest width (between the outer borders) at which this box and everything inside fits."""
    rows, nested = _parts(value)
    widths = [len(title) + 2]
    if rows:
        widths.append(max(len(k) for k, _ in rows) + max(len(v) for _, v in rows) + 8)
    widths += [_width(key, child) + 2 for key, child in nested]
    return max(widths)


def _box(title: str, value: Mapping[str, Any], width: int) -> list[str]:
    rows, nested = _parts(value)
    lines = [f"|{title.center(width)}|"]
    if rows:
        key_width = max(len(k) for k, _ in rows) + 3
        value_width = width - key_width - 1
        rule = f"+{'-' * key_width}+{'-' * value_width}+"
        lines.append(rule)
        lines += [f"|  {k.ljust(key_width - 2)}|  {v.ljust(value_width - 2)}|" for k, v in rows]
        lines.append(rule)
    elif nested:
        lines.append(f"+{'-' * width}+")
    for key, child in nested:
        lines += [f"|{line}|" for line in _box(key, child, width - 2)]
    return lines


def table(title: str, document: Mapping[str, Any]) -> list[str]:
    """aws's table output of `document` under the operation's name (e.g. DescribeSnapshots)."""
    width = _width(title, document)
    return [f"{'-' * (width + 2)}", *_box(title, document, width)]
