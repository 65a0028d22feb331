"""Smoke: the apiserver is real — a CRD's OpenAPI schema is enforced with HTTP 422, as in any cluster."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def widget_crd(kube_api: client.ApiClient) -> Iterator[tuple[str, str]]:
    """A throwaway namespaced CRD (group unique per run: CRDs are cluster-wide) with a strict schema."""
    group = f"t{secrets.token_hex(3)}.devstack.redisbackup.io"
    extensions = client.ApiextensionsV1Api(kube_api)
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "name": {"type": "string", "pattern": "^[A-Za-z](-?[A-Za-z0-9])*$", "maxLength": 20},
                },
            }
        },
    }
    crd = {
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }
    extensions.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 30
    while True:
        status = extensions.read_custom_resource_definition(f"widgets.{group}").status
        if any(c.type == "Established" and c.status == "True" for c in status.conditions or []):
            break
        assert time.monotonic() < deadline, f"CRD widgets.{group} not Established after 30s"
        time.sleep(0.1)
    yield group, "v1"
    extensions.delete_custom_resource_definition(f"widgets.{group}")


def _widget(spec: dict[str, object]) -> dict[str, object]:
    return {"kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_an_object_violating_the_crd_schema_is_rejected_with_422(
    kube_api: client.ApiClient, widget_crd: tuple[str, str], namespace: str
) -> None:
    group, version = widget_crd
    objects = client.CustomObjectsApi(kube_api)

    body = {"apiVersion": f"{group}/{version}", **_widget({"size": 0, "name": "9-starts-with-a-digit"})}
    with pytest.raises(client.ApiException) as rejected:
        objects.create_namespaced_custom_object(group, version, namespace, "widgets", body)

    assert rejected.value.status == 422
    assert "spec.size" in rejected.value.body
    assert "spec.name" in rejected.value.body
    assert objects.list_namespaced_custom_object(group, version, namespace, "widgets")["items"] == []


def test_an_object_within_the_crd_schema_is_stored(
    kube_api: client.ApiClient, widget_crd: tuple[str, str], namespace: str
) -> None:
    group, version = widget_crd
    objects = client.CustomObjectsApi(kube_api)

    body = {"apiVersion": f"{group}/{version}", **_widget({"size": 3, "name": "my-widget"})}
    objects.create_namespaced_custom_object(group, version, namespace, "widgets", body)

    stored = objects.get_namespaced_custom_object(group, version, namespace, "widgets", "w")
    assert stored["spec"] == {"size": 3, "name": "my-widget"}
