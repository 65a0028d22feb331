"""`redisbackup dump` as a user runs it: a real process against real redis-server and SeaweedFS."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import redis_nodes
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import Topology

pytestmark = pytest.mark.e2e

REDISBACKUP = [sys.executable, "-m", "redisbackup.cli.main"]


def dump(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REDISBACKUP, "dump", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_dump_to_a_directory_prints_the_manifest_it_stored(redis_acl: Topology, tmp_path: Path) -> None:
    node = redis_acl.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=200)
    result = dump("--redis", node.url, "--to", f"file://{tmp_path}", "--snapshot-name", "nightly", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["snapshotName"] == "nightly"
    record = manifest["nodeSnapshots"][0]
    stored = tmp_path / record["objectKey"]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == record["sha256"]
    assert stored.parent.name == manifest["attempt"], "the RDB lies under the attempt that stored it"
    assert json.loads((stored.parent.parent / "manifest.json").read_text()) == manifest
    assert node.password not in result.stdout + result.stderr


def test_dump_of_a_cluster_to_s3_with_credentials_from_the_environment(redis_cluster: Topology, s3: S3Bucket) -> None:
    with redis_cluster.cluster_client() as client:
        redis_nodes.fill_mixed(client, count=300)
    seed = redis_cluster.primary
    result = dump(
        "--redis",
        f"redis://{seed.host}:{seed.port}",
        "--cluster",
        "--to",
        f"s3://{s3.bucket}/team-a",
        "--endpoint-url",
        s3.endpoint_url,
        "--source-id",
        "orders",
        env={
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert (manifest["replicationGroupId"], manifest["numNodeGroups"]) == ("orders", 3)
    keys = s3.keys("team-a/")
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == [
        "manifest.json",
        "node-0001.rdb",
        "node-0002.rdb",
        "node-0003.rdb",
    ]
    assert {k.rsplit("/", 2)[1] for k in keys if k.endswith(".rdb")} == {manifest["attempt"]}, "under one attempt"
    assert s3.uploads() == []


def test_a_refused_dump_exits_1_with_the_fault_and_stores_nothing(redis_acl: Topology, tmp_path: Path) -> None:
    node = redis_acl.primary
    nosync = node.acl_users["nosync"]
    result = dump(
        "--redis", f"redis://nosync:{nosync.password}@{node.host}:{node.port}", "--to", f"file://{tmp_path}/store"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("redisbackup dump: SyncNotPermitted: ")
    assert nosync.password not in result.stderr
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_the_password_can_stay_out_of_the_command_line(redis_password: Topology, tmp_path: Path) -> None:
    node = redis_password.primary
    with node.client() as client:
        client.set("k", "v")
    result = dump(
        "--redis",
        f"redis://{node.host}:{node.port}",
        "--to",
        f"file://{tmp_path}",
        env={"REDISCLI_AUTH": node.password or ""},
    )
    assert result.returncode == 0, result.stderr


def test_a_tls_node_with_its_ca(redis_tls: Topology, tmp_path: Path) -> None:
    node = redis_tls.primary
    assert node.tls is not None
    with node.client() as client:
        client.set("k", "v")
    result = dump("--redis", node.url, "--ca", str(node.tls.ca), "--to", f"file://{tmp_path}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nodeSnapshots"][0]["cacheSize"] != "0"
