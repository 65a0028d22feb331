"""The chart's values: every one documented (helm-docs `# --`), every one in values.schema.json (which refuses
unknown keys), defaults that agree with the operator's own, and the CRD the chart installs is the generated one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devstack import chartdocs
from devstack.chartdocs import comment_above, key_lines, leaves
from redisbackup.api import crd
from redisbackup.api.config import Limits

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "redisbackup"
VALUES_TEXT = (CHART / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())


LEAVES = list(leaves(VALUES, SCHEMA))
LINES = key_lines(VALUES_TEXT)


@pytest.mark.parametrize("path", LEAVES, ids=[".".join(p) for p in LEAVES])
def test_every_value_has_a_helm_docs_comment(path: tuple[str, ...]) -> None:
    block = comment_above(VALUES_TEXT, LINES[path])
    assert block, f"{'.'.join(path)} needs a `# -- ` comment right above it"
    assert block[0].startswith("# -- "), f"{'.'.join(path)}: its comment must start with `# -- ` (helm-docs)"


def _objects(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if schema.get("type") == "object" and "properties" in schema:
        yield schema
    for child in schema.get("properties", {}).values():
        yield from _objects(child)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _objects(schema["additionalProperties"])


def test_the_schema_refuses_unknown_keys_everywhere_it_lists_keys() -> None:
    for schema in _objects(SCHEMA):
        assert schema.get("additionalProperties") is False, f"{sorted(schema['properties'])} accepts unknown keys"


def test_the_defaults_pass_the_schema() -> None:
    jsonschema.validate(VALUES, SCHEMA)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"replicaCount": 0}, "minimum"),
        ({"image": {"pullPolicy": "Sometimes"}}, "enum"),
        ({"webhook": {"timeoutSeconds": 31}}, "maximum"),
        ({"storage": {"locations": {"Bad_Name": {"file": {"path": "/x"}}}}}, "pattern"),
        ({"storage": {"locations": {"both": {"file": {"path": "/x"}, "s3": {"bucket": "abc"}}}}}, "oneOf"),
        ({"storage": {"locations": {"relative": {"file": {"path": "x"}}}}}, "pattern"),
        ({"limits": {"maxConcurrentSnapshot": 2}}, "additionalProperties"),
        ({"watchNamespaces": ["Team_A"]}, "pattern"),
        ({"logLevel": "trace"}, "enum"),
    ],
)
def test_the_schema_refuses_mistakes(change: dict[str, Any], rule: str) -> None:
    values = json.loads(json.dumps(VALUES))
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate(values, SCHEMA)
    assert refused.value.validator == rule or rule in str(refused.value)


def test_limits_default_to_what_the_operator_would_use_without_them() -> None:
    operator_defaults = Limits().model_dump(by_alias=True)
    assert VALUES["limits"] == operator_defaults
    assert set(SCHEMA["properties"]["limits"]["properties"]) == set(operator_defaults)


def test_the_chart_installs_the_generated_crd() -> None:
    chart_copy = (REPO / crd.CHART_CRD_PATH).read_text()
    assert chart_copy == (REPO / crd.CRD_PATH).read_text() == crd.render_crd(), "run `make crds` and commit"


def test_the_check_mode_notices_a_stale_chart_copy(tmp_path: Path) -> None:
    assert crd.main(["--write", "--root", str(tmp_path)]) == 0
    (tmp_path / crd.CHART_CRD_PATH).write_text("stale")
    assert crd.main(["--check", "--root", str(tmp_path)]) == 1


def test_the_charts_readme_lists_every_value_as_values_yaml_documents_it() -> None:
    assert chartdocs.main(["--check"]) == 0, "run `make manifests` and commit charts/redisbackup/README.md"
