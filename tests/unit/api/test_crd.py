"""The committed CRD is exactly what the models generate, and it is a structural schema the apiserver accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from redisbackup.api import crd, naming
from redisbackup.api.schema import UnsupportedSchema, structural_schema
from redisbackup.api.spec import both_sources_message, immutable_fields, no_source_message

REPO = Path(__file__).resolve().parents[3]


def test_the_committed_crd_matches_the_models() -> None:
    committed = (REPO / crd.CRD_PATH).read_text()
    assert committed == crd.render_crd(), "crds/ is out of date with redisbackup.api: run `make crds` and commit"


def test_generation_is_deterministic() -> None:
    assert crd.render_crd() == crd.render_crd()


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}.*")


@pytest.fixture(scope="module")
def version() -> dict[str, Any]:
    document = yaml.safe_load(crd.render_crd())
    (only,) = document["spec"]["versions"]
    return dict(only)


def test_the_schema_is_structural(version: dict[str, Any]) -> None:
    for path, node in _nodes(version["schema"]["openAPIV3Schema"]):
        assert "type" in node, path
        assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "title"} & set(node), path
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path


def test_snapshot_name_is_checked_by_pattern_and_length_even_without_the_webhook(version: dict[str, Any]) -> None:
    name = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["snapshotName"]
    assert name["pattern"] == "^[A-Za-z](-?[A-Za-z0-9])*$"
    assert (name["minLength"], name["maxLength"]) == (1, 20)
    assert [rule["message"] for rule in name["x-kubernetes-validations"]] == [
        f"InvalidParameterValue: {naming.SNAPSHOT_NAME.message(rule)}" for rule in naming.NAMING_RULES
    ]


def test_cel_rules_say_the_same_as_the_webhook(version: dict[str, Any]) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages = [rule["message"] for rule in spec["x-kubernetes-validations"]]
    assert f"InvalidParameterCombination: {both_sources_message()}" in messages
    assert f"InvalidParameterCombination: {no_source_message()}" in messages


def test_every_spec_field_but_the_deletion_policy_verify_and_tags_is_immutable(version: dict[str, Any]) -> None:
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    transition = [rule for rule in spec["x-kubernetes-validations"] if "oldSelf" in rule["rule"]]
    assert [rule["fieldPath"] for rule in transition] == [f".{field}" for field in immutable_fields()]
    assert set(spec["properties"]) - set(immutable_fields()) == {"deletionPolicy", "verify", "tags"}
    # has() on both sides: adding or removing an optional field is a change too.
    port = next(rule for rule in transition if rule["fieldPath"] == ".port")
    assert port["rule"] == ("has(self.port) == has(oldSelf.port) && (!has(self.port) || self.port == oldSelf.port)")


def test_kubectl_sees_a_short_name_categories_columns_and_a_status_subresource() -> None:
    document = yaml.safe_load(crd.render_crd())
    names = document["spec"]["names"]
    assert names["shortNames"] == ["rb"]
    assert set(names["categories"]) >= {"redis", "backup"}
    (version,) = document["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority", 0) == 0]
    assert columns == ["Snapshot", "Source", "Engine", "Version", "Status", "Size", "Age"]


def test_every_field_has_a_description_for_kubectl_explain(version: dict[str, Any]) -> None:
    root = version["schema"]["openAPIV3Schema"]
    for part in ("spec", "status"):
        for path, node in _nodes(root["properties"][part], f".{part}"):
            assert node.get("description") or path.endswith(".*"), f"{path} has no description"


def test_a_real_union_cannot_be_turned_into_a_structural_schema() -> None:
    class Union(BaseModel):
        value: int | str

    with pytest.raises(UnsupportedSchema, match="union"):
        structural_schema(Union)


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / crd.CRD_PATH).write_text("stale")
    assert crd.main(["--check", "--root", str(tmp_path)]) == 1
    assert crd.main(["--write", "--root", str(tmp_path)]) == 0
    assert crd.main(["--check", "--root", str(tmp_path)]) == 0


def test_conditions_are_a_map_keyed_by_type_so_each_writer_owns_its_own(version: dict[str, Any]) -> None:
    # Server-side apply merges such a list entry by entry: the snapshot, the verifier and the observer each apply
    # their conditions without removing the others' (tests/e2e/test_status_writes.py shows it on a real apiserver).
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    conditions = status["conditions"]
    assert (conditions["x-kubernetes-list-type"], conditions["x-kubernetes-list-map-keys"]) == ("map", ["type"])
    assert "type" in conditions["items"]["required"], "a map key must be required"
