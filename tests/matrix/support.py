"""Shared steps of the version matrix: run `redisbackup` as users do, with the RDB readers of chosen releases."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devstack import datasets
from devstack.redis_nodes import RedisNode
from devstack.versions import IMAGE_RELEASES, RELEASES, Release
from tests.e2e.restore_support import redisbackup

RDB_TOOLS_ENV = "REDISBACKUP_RDB_TOOLS"


def tools_env(releases: Iterable[Release] = RELEASES) -> dict[str, str]:
    """The environment that gives `redisbackup` the RDB readers (server + check-rdb) of `releases`, and no other."""
    directories = [str(release.ensure().tool_dir()) for release in releases]
    return {RDB_TOOLS_ENV: os.pathsep.join(directories)}


IMAGE_TOOLS = tuple(IMAGE_RELEASES)


reported = datasets.server_version
written_rdb_version = datasets.written_rdb_version


def run_ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = redisbackup(*args, env=env)
    assert result.returncode == 0, f"redisbackup {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def dump(node: RedisNode, root: str, name: str, *extra: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(
        run_ok("dump", "--redis", node.url, "--to", root, "--snapshot-name", name, "-q", *extra)
    )
    return manifest


def snapshot_url(root: str, manifest: dict[str, Any]) -> str:
    return f"{root}/{manifest['namespace']}/{manifest['snapshotName']}/{manifest['uid']}"


def verify(url: str, releases: Iterable[Release] = RELEASES) -> dict[str, Any]:
    """`redisbackup verify -o json` with the readers of `releases`; the report, whatever the exit status."""
    result = redisbackup("verify", "--from", url, "-o", "json", env=tools_env(releases))
    assert result.stdout, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    report["exitStatus"] = result.returncode
    return report


def signature(rdb_version: int) -> bytes:
    """The 9 bytes an RDB of this version starts with: Valkey 8 still writes Redis's; Valkey 9 (RDB 80) its own."""
    return f"REDIS{rdb_version:04d}".encode() if rdb_version < 80 else f"VALKEY{rdb_version:03d}".encode()


def header(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(9)
