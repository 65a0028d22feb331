"""Restoring and verifying straight from storage (`--from URL`), as after losing the Kubernetes cluster.

Real redis-servers and real stores; the snapshots are taken with `redisbackup dump` (the operator's data path).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import redis_nodes
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import RedisNode, Topology
from tests.e2e.restore_support import (
    cluster_dataset,
    cluster_state,
    every_database,
    fresh_cluster_nodes,
    load_functions,
    mutate,
    redisbackup,
    seed_baseline,
)

pytestmark = pytest.mark.e2e


def dump(node: RedisNode, to: str, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = redisbackup("dump", "--redis", node.url, "--to", to, "--snapshot-name", "baseline", "-q", *extra, env=env)
    assert result.returncode == 0, result.stderr
    manifest: dict[str, Any] = json.loads(result.stdout)
    return manifest


def snapshot_url(root: str, manifest: dict[str, Any]) -> str:
    return f"{root}/{manifest['namespace']}/{manifest['snapshotName']}/{manifest['uid']}"


@pytest.fixture
def functions_flushed(redis_cluster: Topology) -> Iterator[Topology]:
    """The session cluster, with the function library the test loads removed afterwards (FLUSHALL keeps them)."""
    yield redis_cluster
    for node in redis_cluster.primaries:
        with node.client() as client:
            client.execute_command("FUNCTION", "FLUSH")


def test_a_node_restores_from_s3_into_a_new_data_directory_with_every_key_equal(
    redis_factory: RedisFactory, s3: S3Bucket, tmp_path: Path
) -> None:
    source = redis_factory.standalone().primary
    with source.client() as client:
        seed_baseline(client, databases=(3,))
        load_functions(client)
    baseline = every_database(source)
    aws = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_DEFAULT_REGION": s3.region}
    root = f"s3://{s3.bucket}/redis"
    manifest = dump(source, root, "--endpoint-url", s3.endpoint_url, env=aws)
    with source.client() as client:
        mutate(client)

    data_dir = tmp_path / "new-node"
    result = redisbackup(
        "restore", "--from", snapshot_url(root, manifest), "--to-dir", str(data_dir), "--endpoint-url", s3.endpoint_url,
        env=aws,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in data_dir.iterdir()) == ["dump.rdb"]
    restored = redis_factory.from_rdb(data_dir / "dump.rdb")
    assert every_database(restored) == baseline
    assert 3 in baseline
    assert len(baseline[0]) > 140


def test_a_cluster_restores_into_a_brand_new_cluster_with_replicas(
    functions_flushed: Topology, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    source = functions_flushed
    with source.cluster_client() as client:
        seed_baseline(client)
    for primary in source.primaries:
        with primary.client() as client:
            load_functions(client)
    baseline = cluster_dataset(source.primaries)
    root = f"file://{tmp_path}/store"
    manifest = dump(source.primary, root, "--cluster")
    with source.cluster_client() as client:
        mutate(client)
    nodes = fresh_cluster_nodes(redis_factory, 6)

    result = redisbackup(
        "restore-cluster", "--from", snapshot_url(root, manifest), "--replicas", "1", "-o", "json",
        "--nodes", ",".join(node.address for node in nodes),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["clusterState"] == "ok"
    primaries, replicas = nodes[:3], nodes[3:]
    assert cluster_dataset(primaries) == baseline
    recorded = [(n["nodeGroupId"], n["slots"]) for n in manifest["nodeSnapshots"]]
    assert [(g["nodeGroupId"], g["slots"]) for g in report["nodeGroups"]] == recorded
    for node, (_, slots) in zip(primaries, recorded, strict=True):
        with node.client() as client:
            me = next(
                line for line in client.execute_command("CLUSTER", "NODES").decode().splitlines() if "myself" in line
            )
            assert " ".join(me.split()[8:]) == slots.replace(",", " ")
            assert client.execute_command("FCALL", "answer", 0) == 42
    for node in nodes:
        assert cluster_state(node) == "ok"
    for replica, primary in zip(replicas, primaries, strict=True):
        info = replica.info("replication")
        assert (info["role"], info["master_port"], info["master_link_status"]) == ("slave", primary.port, "up")
        with replica.client() as client:
            assert client.dbsize() == primary.client().dbsize()

    again = redisbackup(
        "restore-cluster", "--from", snapshot_url(root, manifest), "--replicas", "1", "-o", "json",
        "--nodes", ",".join(node.address for node in nodes),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # a Job's retry after success changes nothing
    assert json.loads(again.stdout)["alreadyRestored"] is True
    assert cluster_dataset(primaries) == baseline


def test_restore_cluster_refuses_the_wrong_node_count_a_non_empty_node_and_a_node_of_another_cluster(
    redis_cluster: Topology, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    with redis_cluster.cluster_client() as client:
        redis_nodes.fill_mixed(client, count=30)
    root = f"file://{tmp_path}/store"
    manifest = dump(redis_cluster.primary, root, "--cluster")
    url = snapshot_url(root, manifest)
    fresh = fresh_cluster_nodes(redis_factory, 3)
    shard = tmp_path / "store" / manifest["nodeSnapshots"][1]["objectKey"]
    with_data = redis_factory.cluster_node(shard)

    two = redisbackup("restore-cluster", "--from", url, "--nodes", ",".join(n.address for n in fresh[:2]))
    assert two.returncode == 1
    assert "InvalidParameterCombination: " in two.stderr
    assert "needs 3 nodes (3 primaries); --nodes names 2" in two.stderr

    with with_data.client() as client:
        keys = client.dbsize()
    busy = redisbackup(
        "restore-cluster", "--from", url, "--nodes", ",".join([fresh[0].address, with_data.address, fresh[2].address])
    )
    assert busy.returncode == 1
    assert f"RestoreTargetNotEmpty: {with_data.address} holds {keys} keys" in busy.stderr

    member = redis_cluster.nodes[4].address
    joined = redisbackup(
        "restore-cluster", "--from", url, "--nodes", ",".join([fresh[0].address, fresh[2].address, member])
    )
    assert joined.returncode == 1
    assert f"RestoreTargetInCluster: {member} already knows 5 other cluster node(s)" in joined.stderr
    for node in (fresh[0], fresh[2]):  # nothing was changed on the fit nodes
        with node.client() as client:
            assert "cluster_slots_assigned:0" in client.execute_command("CLUSTER", "INFO").decode()


def test_a_flipped_byte_in_storage_is_refused_by_restore_and_caught_by_verify(
    redis_standalone: Topology, tmp_path: Path
) -> None:
    node = redis_standalone.primary
    with node.client() as client:
        redis_nodes.fill_mixed(client, count=100)
    root = f"file://{tmp_path}/store"
    manifest = dump(node, root)
    url = snapshot_url(root, manifest)
    # Debian's redis-tools alone (the operator image) is enough: its redis-check-rdb binary is redis-server too.
    assert redisbackup("verify", "--from", url, "--redis-server", shutil.which("redis-check-rdb") or "").returncode == 0
    stored = tmp_path / "store" / manifest["nodeSnapshots"][0]["objectKey"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    restored = redisbackup("restore", "--from", url, "--to-dir", str(tmp_path / "data"))
    verified = redisbackup("verify", "--from", url, "-o", "json")

    assert restored.returncode == 1
    assert restored.stderr.startswith("redisbackup restore: StoredObjectCorrupt: ")
    assert list((tmp_path / "data").iterdir()) == []  # no dump.rdb, no temp file
    assert verified.returncode == 1
    report = json.loads(verified.stdout)
    assert report["result"] == "Failed"
    assert report["reason"] == report["nodes"][0]["reason"] == "StoredObjectCorrupt"


def test_the_init_container_route_primaries_load_their_shard_at_boot_and_preloaded_joins_them(
    redis_cluster: Topology, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    with redis_cluster.cluster_client() as client:
        seed_baseline(client, big=False)
    baseline = cluster_dataset(redis_cluster.primaries)
    root = f"file://{tmp_path}/store"
    url = snapshot_url(root, dump(redis_cluster.primary, root, "--cluster"))
    with redis_cluster.cluster_client() as client:
        mutate(client)

    # What each Pod's init container does: ordinals 0-2 restore their node group, 3-5 (replicas) nothing.
    data_dirs = [tmp_path / f"redis-{ordinal}" for ordinal in range(6)]
    for ordinal, data_dir in enumerate(data_dirs):
        init = redisbackup(
            "restore", "--from", url, "--to-dir", str(data_dir), "--node-group", "auto",
            env={"POD_NAME": f"redis-{ordinal}"},
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        assert (data_dir / "dump.rdb").exists() == (ordinal < 3)
    assert "nothing to restore" in init.stdout
    nodes = [redis_factory.cluster_node(d / "dump.rdb" if (d / "dump.rdb").exists() else None) for d in data_dirs]

    joined = redisbackup(
        "restore-cluster", "--from", url, "--preloaded", "--replicas", "1",
        "--nodes", ",".join(node.address for node in nodes),
    )  # fmt: skip

    assert joined.returncode == 0, joined.stderr
    assert cluster_dataset(nodes[:3]) == baseline
    assert all(cluster_state(node) == "ok" for node in nodes)
