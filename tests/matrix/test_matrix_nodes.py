"""Every release: a node and a replica are dumped, verified and restored on real servers of that version.

Nothing here names a version: the engine, its version and the RDB version it writes are read from the server
(INFO, the footer of a DUMP payload), and the snapshot must say the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import datasets, redis_nodes
from devstack.fixtures.redis import VersionedServers
from devstack.versions import Release
from devstack.wait import wait_until
from tests.matrix.conftest import MatrixRecorder
from tests.matrix.support import (
    IMAGE_TOOLS,
    dump,
    header,
    reported,
    run_ok,
    signature,
    snapshot_url,
    tools_env,
    verify,
    written_rdb_version,
)

pytestmark = [pytest.mark.e2e]


@pytest.mark.smoke
@pytest.mark.matrix("dump node", "verify", "restore node")
def test_a_node_is_dumped_verified_and_restored_with_every_key(
    versioned: VersionedServers, redis_release: Release, matrix: MatrixRecorder, tmp_path: Path
) -> None:
    node = versioned.standalone().primary
    with node.client() as client:
        datasets.seed_baseline(client, databases=(3,))
        if datasets.modern(client):
            datasets.load_functions(client)
        engine, version = reported(client)
        rdb_version = written_rdb_version(client)
        digest = datasets.digest(client)
        slack = datasets.slack(client)
    baseline = datasets.every_database(node)
    assert (engine, version) == (redis_release.engine, redis_release.reported_version()), "the registry's server"
    root = f"file://{tmp_path}/store"

    manifest = dump(node, root, "nightly")

    # Without REPLCONF rdb-only (6.0) the server would stream commands to us after the RDB: we hang up on it.
    wait_until(lambda: node.info("replication")["connected_slaves"] == 0, timeout=5, what="no replica left")
    (record,) = manifest["nodeSnapshots"]
    assert (manifest["engine"], manifest["engineVersion"]) == (engine, version)
    assert (record["engine"], record["engineVersion"], record["rdbVersion"]) == (engine, version, rdb_version)
    stored = tmp_path / "store" / record["objectKey"]
    assert header(stored) == signature(rdb_version)
    matrix.passed("dump node", rdbVersion=rdb_version, reportedVersion=version)

    url = snapshot_url(root, manifest)
    everything = verify(url)  # every release's readers: the snapshot's own version is chosen
    image = verify(url, IMAGE_TOOLS)  # what the operator image ships: the newest of each engine
    for report in (everything, image):
        assert (report["result"], report["exitStatus"]) == ("Passed", 0), report
        assert report["keys"] == sum(len(keys) for number, keys in baseline.items() if number >= 0)
    assert everything["loader"] == f"{engine} {version}"
    matrix.passed("verify", verifiedBy=[everything["loader"], image["loader"]])

    data_dir = tmp_path / "data"
    run_ok(
        "restore", "--from", url, "--to-dir", str(data_dir), "--engine", engine, "--engine-version", version,
        env=tools_env(),
    )  # fmt: skip
    restored = versioned.factory.from_rdb(data_dir / "dump.rdb")
    assert datasets.differences(datasets.every_database(restored), baseline, slack_ms=slack) == []
    with restored.client() as client:
        assert datasets.digest(client) == digest
    matrix.passed("restore node")


@pytest.mark.slow
@pytest.mark.matrix("dump replica")
def test_a_replica_is_dumped_without_a_fork_on_its_primary(
    versioned: VersionedServers, redis_release: Release, matrix: MatrixRecorder, tmp_path: Path
) -> None:
    topology = versioned.replicated()
    primary, replica = topology.primary, topology.replicas[0]
    with primary.client() as client:
        datasets.seed_baseline(client, big=False)
        slack = datasets.slack(client)
    redis_nodes.wait_replicas_in_sync(topology)
    baseline = datasets.every_database(primary)
    # total_forks arrived in 6.2; sync_full (full syncs served) is in every version: neither may move
    before = {k: v for k, v in primary.info("stats").items() if k in ("total_forks", "sync_full")}
    root = f"file://{tmp_path}/store"

    manifest = dump(replica, root, "from-replica")

    (record,) = manifest["nodeSnapshots"]
    assert record["sourceNode"]["role"] == "replica"
    assert {k: v for k, v in primary.info("stats").items() if k in before} == before
    with replica.client() as client:
        assert (manifest["engine"], manifest["engineVersion"]) == reported(client)
    restored = versioned.factory.from_rdb(tmp_path / "store" / record["objectKey"])
    assert datasets.differences(datasets.every_database(restored), baseline, slack_ms=slack) == []
    matrix.passed("dump replica")
