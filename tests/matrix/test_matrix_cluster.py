"""Every release: a Redis Cluster (3 shards, a replica each) is dumped, verified and restored into a new cluster of
the same version, key by key — Redis 6.0 included, which has no CLUSTER SHARDS, no ADDSLOTSRANGE and no functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import datasets, redis_nodes
from devstack.fixtures.redis import VersionedServers
from devstack.versions import Release
from tests.e2e.restore_support import cluster_state
from tests.matrix.conftest import MatrixRecorder
from tests.matrix.support import dump, reported, run_ok, snapshot_url, tools_env, verify, written_rdb_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.matrix("dump cluster", "verify", "restore-cluster")
def test_a_cluster_is_dumped_verified_and_restored_into_a_new_cluster(
    versioned: VersionedServers, redis_release: Release, matrix: MatrixRecorder, tmp_path: Path
) -> None:
    source = versioned.cluster()
    with source.cluster_client() as client:
        datasets.seed_baseline(client)
    modern = False
    for primary in source.primaries:
        with primary.client() as client:
            modern = datasets.modern(client)
            if modern:
                datasets.load_functions(client)
            engine, version = reported(client)
            rdb_version = written_rdb_version(client)
            slack = datasets.slack(client)
    baseline = datasets.cluster_dataset(source.primaries)
    # Every replica online at its primary's offset, as the cluster itself reports it: else the dump rightly reads
    # that shard from its primary, and the assertion below on roles would be about gossip timing.
    redis_nodes.wait_cluster_gossip(source)
    root = f"file://{tmp_path}/store"

    manifest = dump(source.primary, root, "cluster", "--cluster")

    assert (manifest["engine"], manifest["engineVersion"], manifest["numNodeGroups"]) == (engine, version, 3)
    assert {n["rdbVersion"] for n in manifest["nodeSnapshots"]} == {rdb_version}
    assert {n["sourceNode"]["role"] for n in manifest["nodeSnapshots"]} == {"replica"}
    matrix.passed("dump cluster")

    url = snapshot_url(root, manifest)
    report = verify(url)
    assert (report["result"], report["exitStatus"], report["loader"]) == ("Passed", 0, f"{engine} {version}"), report
    assert report["keys"] == len(baseline)
    matrix.passed("verify", verifiedBy=[report["loader"]])

    nodes = [versioned.factory.cluster_node() for _ in range(6)]
    restored = json.loads(
        run_ok(
            "restore-cluster", "--from", url, "--replicas", "1", "-o", "json", "-q",
            "--nodes", ",".join(node.address for node in nodes),
            env=tools_env(),
        )
    )  # fmt: skip
    assert restored["clusterState"] == "ok"
    assert datasets.differences(datasets.cluster_dataset(nodes[:3]), baseline, slack_ms=slack) == []
    if modern:  # functions, and expiry instants copied to the millisecond (ABSTTL from PEXPIRETIME): equal digests
        for source_primary, primary in zip(source.primaries, nodes[:3], strict=True):
            with primary.client() as client, source_primary.client() as original:
                assert client.execute_command("FCALL", "answer", 0) == 42
                assert datasets.digest(client) == datasets.digest(original)
    assert all(cluster_state(node) == "ok" for node in nodes)
    matrix.passed("restore-cluster")
