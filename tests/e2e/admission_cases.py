"""Manifests and helpers shared by the admission e2e tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"
CASES = Path(__file__).resolve().parents[1] / "data" / "redisbackups.yaml"


def redisbackup(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RedisBackup",
        "metadata": {"name": name},
        "spec": {key: value for key, value in spec.items() if value is not None},
    }


def manifest(name: str, **spec: Any) -> str:
    return yaml.safe_dump(redisbackup(name, **spec))


# (object name, spec, fragments the rejection must contain) — each one is caught by the CRD's schema and CEL
# rules already, so the apiserver rejects it with or without the webhook.
BAD = [
    (
        "digit-first",
        {"snapshotName": "2015-bkup", "cacheClusterId": "mycluster"},
        ["InvalidParameterValue: spec.snapshotName must begin with an ASCII letter"],
    ),
    (
        "several-rules",
        {"snapshotName": "1a--b_-", "cacheClusterId": "mycluster"},
        [
            "InvalidParameterValue: spec.snapshotName must begin with an ASCII letter",
            "InvalidParameterValue: spec.snapshotName may contain only ASCII letters, digits and hyphens",
            "InvalidParameterValue: spec.snapshotName cannot contain two consecutive hyphens",
            "InvalidParameterValue: spec.snapshotName cannot end with a hyphen",
        ],
    ),
    (
        "empty",
        {"snapshotName": "", "cacheClusterId": "mycluster"},
        ["InvalidParameterValue: spec.snapshotName is empty"],
    ),
    ("too-long", {"snapshotName": "a" * 21, "cacheClusterId": "mycluster"}, ["spec.snapshotName: Too long"]),
    (
        "newline",
        {"snapshotName": "bkup\n", "cacheClusterId": "mycluster"},
        ["InvalidParameterValue: spec.snapshotName may contain only ASCII letters, digits and hyphens"],
    ),
    (
        "both-sources",
        {"snapshotName": "both", "cacheClusterId": "a", "replicationGroupId": "b"},
        ["InvalidParameterCombination: more than one of spec.cacheClusterId, spec.replicationGroupId and"],
    ),
    (
        "no-source",
        {"snapshotName": "neither"},
        ["InvalidParameterCombination: none of spec.cacheClusterId, spec.replicationGroupId and"],
    ),
    (
        "bad-identifier",
        {"snapshotName": "bad-id", "cacheClusterId": "my_cluster-"},
        [
            "InvalidParameterValue: spec.cacheClusterId may contain only ASCII letters, digits and hyphens",
            "InvalidParameterValue: spec.cacheClusterId cannot end with a hyphen",
        ],
    ),
]


def names_in(api: client.ApiClient, namespace: str) -> list[str]:
    listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return sorted(item["metadata"]["name"] for item in listing["items"])


def create(api: client.ApiClient, namespace: str, body: dict[str, Any], *, dry_run: bool = False) -> Any:
    return client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body, dry_run="All" if dry_run else None
    )


def patch_spec(api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> Any:
    return client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": spec}
    )


def error_message(error: client.ApiException) -> str:
    return str(json.loads(error.body).get("message", "")) if error.body else str(error)
