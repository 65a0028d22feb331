"""The sample manifests of manifests/samples/ run commands this redisbackup understands, as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from redisbackup.cli.main import build_parser

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "restore"


def containers(path: Path) -> list[dict[str, Any]]:
    found = []
    for document in yaml.safe_load_all(path.read_text()):
        spec = ((document or {}).get("spec") or {}).get("template", {}).get("spec", {})
        found += spec.get("initContainers", []) + spec.get("containers", [])
    return [c for c in found if "redisbackup" in c["image"]]


@pytest.mark.parametrize("name", ["node.yaml", "cluster.yaml"])
def test_every_redisbackup_container_of_a_sample_parses(name: str) -> None:
    found = containers(SAMPLES / name)
    assert found
    for container in found:
        args = build_parser().parse_args(container["args"])
        assert args.snapshot_name in ("baseline", "shop-baseline")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["REDISBACKUP_CONFIG"] == "/etc/redisbackup/config/config.yaml"
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/etc/redisbackup/config", "/etc/redisbackup/s3"} <= mounts


def test_the_samples_storage_configuration_is_valid_and_its_keys_are_mounted() -> None:
    from redisbackup.cli.config_file import parse_config

    (config_map,) = [d for d in yaml.safe_load_all((SAMPLES / "node.yaml").read_text()) if d["kind"] == "ConfigMap"]
    config = parse_config(config_map["data"]["config.yaml"])
    _, location = config.location(None)
    assert location.s3 is not None
    assert location.s3.credentials is not None
    assert location.s3.credentials.directory == "/etc/redisbackup/s3"
