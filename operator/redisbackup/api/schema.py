"""Pydantic JSON schema → Kubernetes *structural* OpenAPI v3 schema.

A structural schema (required for CRDs since apiextensions.k8s.io/v1) has a `type` on every node, no `$ref`,
no `anyOf`/`oneOf` carrying types, no `additionalProperties: false`, and `additionalProperties` never next to
`properties`. Pydantic's schema breaks all of these: it references `$defs`, spells `X | None` as
`anyOf: [X, {type: null}]`, and writes `additionalProperties: false` for `extra="forbid"`. This module rewrites it;
anything it cannot express raises instead of producing a schema the apiserver would reject or silently widen.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

Schema = dict[str, Any]

# Key order in the output, so the generated YAML reads naturally and `kubectl explain` users find things.
_KEY_ORDER = (
    "type",
    "format",
    "description",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
)
_DROPPED = {"title", "$defs"}
_NULL = {"type": "null"}
_CEL_KEY_ORDER = ("rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf")


class UnsupportedSchema(ValueError):
    """The model uses a construct a structural schema cannot express (a real union, a tuple, …)."""


def structural_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> Schema:
    """The structural schema of `model` (by alias), with `$ref`s inlined and `X | None` unwrapped.

    `keep_defaults=False` drops every `default` (for status: the apiserver must not invent status values).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _convert(raw, defs, keep_defaults=keep_defaults, path=model.__name__)


def _convert(node: Schema, defs: dict[str, Schema], *, keep_defaults: bool, path: str) -> Schema:
    node = _resolve(node, defs, path)
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "description":
            out[key] = _unwrap(value)
        elif key == "default":
            if keep_defaults and value is not None:
                out[key] = value
        elif key == "properties":
            out[key] = {
                name: _convert(child, defs, keep_defaults=keep_defaults, path=f"{path}.{name}")
                for name, child in value.items()
            }
        elif key == "items":
            out[key] = _convert(value, defs, keep_defaults=keep_defaults, path=f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, defs, keep_defaults=keep_defaults, path=f"{path}.*")
            # `false` (extra="forbid") is how a structural schema behaves anyway: unknown fields are pruned,
            # or rejected under kubectl's strict field validation. `true` needs preserve-unknown-fields.
            elif value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "x-kubernetes-validations":
            out[key] = [_ordered(rule, _CEL_KEY_ORDER) for rule in value]
        elif key == "const":
            out["enum"] = [value]
        elif key in {"anyOf", "oneOf", "allOf", "prefixItems", "$ref"}:
            raise UnsupportedSchema(f"{path}: {key} cannot be expressed in a structural schema")
        else:
            out[key] = value
    if "type" not in out:
        raise UnsupportedSchema(f"{path}: no type (structural schemas need one on every node)")
    return _ordered(out, _KEY_ORDER)


def _resolve(node: Schema, defs: dict[str, Schema], path: str) -> Schema:
    """Inline a `$ref` and unwrap `anyOf: [X, null]`; the referring node's own keys (description) win."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **rest}, defs, path)
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option != _NULL]
        if len(options) != 1:
            raise UnsupportedSchema(f"{path}: a union of {len(options)} types is not structural")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        inner = _resolve(options[0], defs, path)
        # Constraints/rules of the inner type and of the field are both kept; the field's description wins.
        merged = {**inner, **rest}
        rules = inner.get("x-kubernetes-validations", []) + rest.get("x-kubernetes-validations", [])
        if rules:
            merged["x-kubernetes-validations"] = rules
        return merged
    return node


def _ordered(mapping: Schema, order: tuple[str, ...]) -> Schema:
    rank = {key: i for i, key in enumerate(order)}
    return {key: mapping[key] for key in sorted(mapping, key=lambda k: (rank.get(k, len(order)), k))}


def describe(model: type[BaseModel]) -> str:
    """A model's docstring as a schema description."""
    return _unwrap(model.__doc__ or "")


def _unwrap(text: str) -> str:
    """Docstring paragraphs → one line each (kubectl explain re-wraps text itself)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
