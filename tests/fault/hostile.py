"""Hypothesis strategies for hostile RedisBackups: a valid spec with a few fields replaced by junk — wrong types,
huge strings, unicode, nested structures, unknown fields — so both the CRD schema and the webhook get exercised."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

KNOWN_FIELDS = (
    "snapshotName",
    "cacheClusterId",
    "replicationGroupId",
    "sourceNamespace",
    "auth",
    "tls",
    "port",
    "storage",
    "deletionPolicy",
    "tags",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
junk = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
huge = st.sampled_from(["x", "é", "😀", "-", "a-", "\u202e", "\x00"]).flatmap(
    lambda piece: st.integers(min_value=21, max_value=200_000).map(lambda n: piece * n)
)
unicode_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30
)  # non-ASCII digits and letters, bidi marks, NUL …
nested_auth = st.fixed_dictionaries(
    {},
    optional={
        "secretRef": junk | st.fixed_dictionaries({"name": unicode_names | huge, "key": unicode_names | junk}),
        "username": junk | huge | unicode_names,
    },
)
value = junk | huge | unicode_names
plausible = st.fixed_dictionaries(
    {},
    optional={
        "port": st.integers(min_value=-5, max_value=70_000),
        "deletionPolicy": st.sampled_from(["Delete", "Retain", "delete", ""]),
        "storage": st.sampled_from(["s3", "nowhere", "S3"]),
        "sourceNamespace": st.sampled_from(["kube-system", "default", "x" * 64]),
        "tags": st.dictionaries(st.text(max_size=130), st.text(max_size=260), max_size=60),
        "replicationGroupId": st.sampled_from(["shop", "Shop-1", "a" * 41]),
        "tls": st.fixed_dictionaries({}, optional={"enabled": st.booleans(), "serverName": st.text(max_size=300)}),
    },
)


@st.composite
def hostile_spec(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` (a valid spec) with 1-4 changes: a field replaced, removed, or an unknown one added."""
    spec = dict(base)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        choice = draw(st.sampled_from(["replace", "remove", "unknown", "auth", "duplicate", "plausible"]))
        if choice == "replace":
            spec[draw(st.sampled_from(KNOWN_FIELDS))] = draw(value)
        elif choice == "remove":
            spec.pop(draw(st.sampled_from(KNOWN_FIELDS)), None)
        elif choice == "unknown":
            spec[draw(st.text(min_size=1, max_size=30))] = draw(junk)
        elif choice == "duplicate":  # only the webhook knows the namespace's other names (case-insensitive)
            spec["snapshotName"] = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in "dup-name")
        elif choice == "plausible":  # well-formed values the schema admits: what reaches the webhook and operator
            spec.update(draw(plausible))
        else:
            spec["auth"] = draw(nested_auth)
    return spec


def hostile_body(name: str, spec: Any, extra_top: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": name},
        "spec": spec,
    }
    if extra_top is not None:
        body["junk"] = extra_top
    return body
