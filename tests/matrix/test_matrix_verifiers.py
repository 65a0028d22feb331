"""A verdict only from a reader that can read the RDB: when no local redis-check-rdb / valkey-check-rdb understands a
snapshot's RDB version, verification says Unknown (VerifierTooOld, naming both versions) — never that a good
snapshot is damaged — and a restore that would need such a reader is refused before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from devstack import datasets, redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator
from devstack.fixtures.redis import RedisFactory
from devstack.mirror import Mirror
from devstack.versions import HOST, IMAGE_RELEASES, Release
from tests.e2e.operator_support import apply, condition, wait_for
from tests.e2e.restore_support import redisbackup
from tests.matrix.support import dump, reported, snapshot_url, tools_env, verify, written_rdb_version

pytestmark = [pytest.mark.e2e]


def newer_than_host() -> list[Release]:
    """The newest release of each engine (what the operator image ships): their RDBs are newer than the host's own
    reader reads (each test checks that premise on the real servers)."""
    return list(IMAGE_RELEASES)


@pytest.mark.smoke
@pytest.mark.parametrize("source", newer_than_host(), ids=lambda release: release.id)
def test_a_snapshot_no_local_reader_understands_is_unknown_never_damaged(
    redis_factory: RedisFactory, tmp_path: Path, source: Release
) -> None:
    node = redis_factory.standalone(release=source.ensure()).primary
    with node.client() as redis:
        datasets.seed_baseline(redis, big=False)
        engine, version = reported(redis)
        rdb_version = written_rdb_version(redis)
    host = redis_factory.standalone(release=HOST).primary
    with host.client() as redis:
        host_engine, host_version = reported(redis)
        assert written_rdb_version(redis) < rdb_version, "the host's reader is older: the premise of this test"
    root = f"file://{tmp_path}/store"
    url = snapshot_url(root, dump(node, root, "newer"))

    report = verify(url, [HOST])
    text = redisbackup("verify", "--from", url, env=tools_env([HOST]))

    assert report["result"] == "Unknown", report
    assert report["reason"] == report["nodes"][0]["reason"] == "VerifierTooOld"
    assert report["exitStatus"] == text.returncode == 1
    for said in (report["message"], text.stdout + text.stderr):
        for named in (f"{engine} {version}", f"RDB version {rdb_version}", f"{host_engine} {host_version}"):
            assert named in said, said
        for verdict in ("damaged", "do not restore"):
            assert verdict not in said, said
    restored = redisbackup("restore", "--from", url, "--to-dir", str(tmp_path / "data"), "--engine", host_engine,
                           "--engine-version", host_version)  # fmt: skip
    assert restored.returncode == 1
    assert "RestoreTargetIncompatible: " in restored.stderr
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []


@pytest.mark.slow
def test_restore_cluster_into_nodes_too_old_for_the_snapshot_changes_nothing(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    newest = newer_than_host()[-1].ensure()
    source = redis_factory.cluster(release=newest, replicas=0)
    with source.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=60)
    with source.primary.client() as redis:
        engine, version = reported(redis)
    root = f"file://{tmp_path}/store"
    url = snapshot_url(root, dump(source.primary, root, "valkey", "--cluster"))
    old = [redis_factory.cluster_node(release=HOST) for _ in range(3)]

    result = redisbackup("restore-cluster", "--from", url, "--nodes", ",".join(n.address for n in old),
                         env=tools_env())  # fmt: skip

    assert result.returncode == 1
    assert "RestoreTargetIncompatible: " in result.stderr, result.stderr
    assert f"{engine} {version}" in result.stderr
    for node in old:
        with node.client() as redis:
            info = redis.execute_command("CLUSTER", "INFO").decode()
            assert "cluster_slots_assigned:0" in info
            assert "cluster_known_nodes:1" in info
            assert redis.dbsize() == 0


@pytest.mark.slow
def test_spec_verify_without_a_reader_for_the_rdb_is_unknown_and_the_backup_stays_healthy(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    redis_factory: RedisFactory,
    mirror: Mirror,
) -> None:
    newer = newer_than_host()[0].ensure()
    operator = start_operator(namespaces=[namespace], env=tools_env([HOST]))
    topology = redis_factory.standalone(release=newer)
    with topology.primary.client() as redis:
        datasets.seed_baseline(redis, big=False)
        engine, version = reported(redis)
    mirror.statefulset(topology, namespace, "newer")

    apply(kube, namespace, "newer", snapshotName="newer", cacheClusterId="newer", verify=True)
    body = wait_for(
        kube_api,
        namespace,
        "newer",
        lambda b: any(c["type"] == "Verified" for c in (b.get("status") or {}).get("conditions") or []),
        what="had a Verified condition",
        operator=operator,
    )

    status = body["status"]
    check = condition(body, "Verified")
    assert (status["phase"], check["status"], check["reason"]) == ("available", "Unknown", "VerifierTooOld")
    assert f"{engine} {version}" in check["message"]
    assert "damaged" not in check["message"]
    assert status["verification"]["result"] == "Unknown"
    assert not [c for c in status["conditions"] if c["type"] == "Stalled" and c["status"] == "True"]
    ready = condition(body, "Ready")
    assert ready["status"] == "True"
