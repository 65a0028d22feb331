"""The RedisBackup CustomResourceDefinition, generated from the pydantic models.

    python -m redisbackup.api.crd            # print the CRD YAML
    python -m redisbackup.api.crd --write    # write crds/redisbackups.redisbackup.io.yaml and the Helm chart's copy
    python -m redisbackup.api.crd --check    # exit 1 when a committed copy differs from the models

The output is deterministic (field order from the models, fixed key order), so a unit test can compare the
committed file byte for byte and fail on drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from redisbackup import GROUP, VERSION
from redisbackup.api import resource
from redisbackup.api.schema import Schema, describe, structural_schema
from redisbackup.api.spec import RedisBackupSpec, immutability_rules
from redisbackup.api.status import RedisBackupStatus

CRD_PATH = Path("crds") / f"{resource.CRD_NAME}.yaml"
# Helm installs what is in a chart's crds/ before anything else and never deletes it (so uninstalling the chart
# keeps every RedisBackup); the chart carries the same bytes as crds/.
CHART_CRD_PATH = Path("charts") / "redisbackup" / "crds" / f"{resource.CRD_NAME}.yaml"
CRD_PATHS = (CRD_PATH, CHART_CRD_PATH)
HEADER = "# Generated from the pydantic models in redisbackup.api by `make crds`; do not edit by hand.\n"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Snapshot", "type": "string", "jsonPath": ".spec.snapshotName", "description": "spec.snapshotName"},
    {
        "name": "Source",
        "type": "string",
        "jsonPath": ".status.source",
        "description": "The cacheClusterId or replicationGroupId backed up",
    },
    {"name": "Engine", "type": "string", "jsonPath": ".status.engine", "description": "redis or valkey"},
    {
        "name": "Version",
        "type": "string",
        "jsonPath": ".status.engineVersion",
        "description": "The engine's version (Valkey's own, not the redis_version it also reports)",
    },
    {"name": "Status", "type": "string", "jsonPath": ".status.phase", "description": "ElastiCache's SnapshotStatus"},
    {"name": "Size", "type": "string", "jsonPath": ".status.size", "description": "Total size of the snapshot"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Location",
        "type": "string",
        "jsonPath": ".status.location",
        "description": "Where the snapshot is stored",
        "priority": 1,
    },
]


def spec_schema() -> Schema:
    schema = structural_schema(RedisBackupSpec)
    schema["x-kubernetes-validations"] = schema.get("x-kubernetes-validations", []) + immutability_rules()
    return schema


def openapi_schema() -> Schema:
    return {
        "type": "object",
        "description": describe(resource.RedisBackup),
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource."},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": structural_schema(RedisBackupStatus, keep_defaults=False),
        },
    }


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.CRD_NAME,
            "labels": {"app.kubernetes.io/name": "redisbackup", "app.kubernetes.io/part-of": "redisbackup"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": resource.KIND,
                "listKind": f"{resource.KIND}List",
                "plural": resource.PLURAL,
                "singular": resource.SINGULAR,
                "shortNames": list(resource.SHORT_NAMES),
                "categories": list(resource.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    # Shared sub-schemas (two SecretKeySelectors) would otherwise become YAML anchors, which some tools reject.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd() -> str:
    body = yaml.dump(build_crd(), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redisbackup.api.crd", description="Generate the RedisBackup CRD.")
    action = parser.add_mutually_exclusive_group()
    copies = " and ".join(str(path) for path in CRD_PATHS)
    action.add_argument("--write", action="store_true", help=f"write {copies} (relative to --root)")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {copies} are out of date")
    parser.add_argument("--root", type=Path, default=Path(), help="repository root (default: current directory)")
    args = parser.parse_args(argv)
    text = render_crd()
    if args.write:
        for relative in CRD_PATHS:
            path = args.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    elif args.check:
        stale = [
            args.root / p for p in CRD_PATHS if not (args.root / p).exists() or (args.root / p).read_text() != text
        ]
        for path in stale:
            print(f"{path} is out of date with redisbackup.api: run `make crds` and commit it", file=sys.stderr)
        return 1 if stale else 0
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
