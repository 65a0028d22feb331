"""The RedisBackup and RedisBackupSchedule CustomResourceDefinitions, generated from the pydantic models.

    python -m redisbackup.api.crd            # print the CRDs' YAML
    python -m redisbackup.api.crd --write    # write them into crds/ and the Helm chart's crds/
    python -m redisbackup.api.crd --check    # exit 1 when a committed copy differs from the models

The output is deterministic (field order from the models, fixed key order), so a unit test can compare the
committed files byte for byte and fail on drift.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from redisbackup import GROUP, VERSION
from redisbackup.api import resource
from redisbackup.api.backup import RedisBackup
from redisbackup.api.schedule import RedisBackupSchedule
from redisbackup.api.schedule_spec import RedisBackupScheduleSpec, metadata_rules, source_immutability_rules
from redisbackup.api.schedule_status import RedisBackupScheduleStatus
from redisbackup.api.schema import Schema, describe, structural_schema
from redisbackup.api.spec import RedisBackupSpec, immutability_rules
from redisbackup.api.status import RedisBackupStatus

HEADER = "# Generated from the pydantic models in redisbackup.api by `make crds`; do not edit by hand.\n"


def crd_paths(crd_name: str) -> tuple[Path, Path]:
    """Where a CRD is committed: crds/, and the Helm chart's crds/ (Helm installs those before anything else and
    never deletes them, so uninstalling the chart keeps every backup); both carry the same bytes."""
    return Path("crds") / f"{crd_name}.yaml", Path("charts") / "redisbackup" / "crds" / f"{crd_name}.yaml"


CRD_PATH, CHART_CRD_PATH = crd_paths(resource.CRD_NAME)
CRD_PATHS = (CRD_PATH, CHART_CRD_PATH)

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
        # The ElastiCache console's backup Type; `kubectl get rb -o wide`, or -l redisbackup.io/schedule=<name>.
        "name": "Type",
        "type": "string",
        "jsonPath": ".status.snapshotSource",
        "description": "ElastiCache's SnapshotSource: automated (a RedisBackupSchedule's) or manual",
        "priority": 1,
    },
    {
        "name": "Location",
        "type": "string",
        "jsonPath": ".status.location",
        "description": "Where the snapshot is stored",
        "priority": 1,
    },
]


SCHEDULE_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Source",
        "type": "string",
        "jsonPath": ".status.source",
        "description": "The cacheClusterId or replicationGroupId backed up",
    },
    {"name": "Schedule", "type": "string", "jsonPath": ".status.schedule", "description": "When it runs"},
    {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime", "description": "The last run"},
    # A string, not a date: kubectl shows a date in the future as <invalid>.
    {"name": "Next", "type": "string", "jsonPath": ".status.nextScheduleTime", "description": "The next run"},
    {"name": "Kept", "type": "integer", "jsonPath": ".status.kept", "description": "Available automated backups"},
    {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend", "priority": 1},
    {"name": "Active", "type": "string", "jsonPath": ".status.active", "description": "Being taken", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "priority": 1},
]


@dataclass(frozen=True)
class Definition:
    """One custom resource: its names, its models, and what kubectl prints."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    model: type[BaseModel]
    spec: Callable[[], Schema]
    status: type[BaseModel]
    printer_columns: list[dict[str, Any]]
    root_rules: tuple[dict[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def paths(self) -> tuple[Path, Path]:
        return crd_paths(self.name)


def spec_schema() -> Schema:
    schema = structural_schema(RedisBackupSpec)
    schema["x-kubernetes-validations"] = schema.get("x-kubernetes-validations", []) + immutability_rules()
    return schema


def schedule_spec_schema() -> Schema:
    schema = structural_schema(RedisBackupScheduleSpec)
    schema["x-kubernetes-validations"] = schema.get("x-kubernetes-validations", []) + source_immutability_rules()
    return schema


REDISBACKUP = Definition(
    kind=resource.KIND,
    plural=resource.PLURAL,
    singular=resource.SINGULAR,
    short_names=resource.SHORT_NAMES,
    model=RedisBackup,
    spec=spec_schema,
    status=RedisBackupStatus,
    printer_columns=PRINTER_COLUMNS,
)
SCHEDULE = Definition(
    kind=resource.SCHEDULE_KIND,
    plural=resource.SCHEDULE_PLURAL,
    singular=resource.SCHEDULE_SINGULAR,
    short_names=resource.SCHEDULE_SHORT_NAMES,
    model=RedisBackupSchedule,
    spec=schedule_spec_schema,
    status=RedisBackupScheduleStatus,
    printer_columns=SCHEDULE_PRINTER_COLUMNS,
    root_rules=tuple(metadata_rules()),
)
DEFINITIONS = (REDISBACKUP, SCHEDULE)


def openapi_schema(definition: Definition = REDISBACKUP) -> Schema:
    schema: Schema = {
        "type": "object",
        "description": describe(definition.model),
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource."},
            "metadata": {"type": "object"},
            "spec": definition.spec(),
            "status": structural_schema(definition.status, keep_defaults=False),
        },
    }
    if definition.root_rules:
        schema["x-kubernetes-validations"] = list(definition.root_rules)
    return schema


def build_crd(definition: Definition = REDISBACKUP) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": definition.name,
            "labels": {"app.kubernetes.io/name": "redisbackup", "app.kubernetes.io/part-of": "redisbackup"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": definition.kind,
                "listKind": f"{definition.kind}List",
                "plural": definition.plural,
                "singular": definition.singular,
                "shortNames": list(definition.short_names),
                "categories": list(resource.CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": definition.printer_columns,
                    "schema": {"openAPIV3Schema": openapi_schema(definition)},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    # Shared sub-schemas (two SecretKeySelectors) would otherwise become YAML anchors, which some tools reject.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd(definition: Definition = REDISBACKUP) -> str:
    body = yaml.dump(build_crd(definition), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redisbackup.api.crd", description="Generate the CRDs.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="write crds/ and the chart's crds/ (relative to --root)")
    action.add_argument("--check", action="store_true", help="exit 1 when a committed copy is out of date")
    parser.add_argument("--root", type=Path, default=Path(), help="repository root (default: current directory)")
    args = parser.parse_args(argv)
    stale = []
    for definition in DEFINITIONS:
        text = render_crd(definition)
        for relative in definition.paths:
            path = args.root / relative
            if args.write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path}")
            elif args.check and (not path.exists() or path.read_text() != text):
                stale.append(path)
        if not args.write and not args.check:
            sys.stdout.write(text if definition is DEFINITIONS[0] else "---\n" + text.removeprefix(HEADER))
    for path in stale:
        print(f"{path} is out of date with redisbackup.api: run `make crds` and commit it", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
