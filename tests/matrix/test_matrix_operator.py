"""Every release: the operator backs up a node and a Redis Cluster (real servers of that version, mirrored as Pods)
and verifies them with the readers its image ships (trixie's redis-check-rdb and valkey-check-rdb); the status
names the engine as it is, and the stored RDBs restore every key on that version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import datasets, redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator
from devstack.fixtures.redis import VersionedServers
from devstack.mirror import Mirror
from devstack.versions import Release
from redisbackup.domain.elasticache import snapshot_document_from_body
from tests.e2e.operator_support import apply, condition, wait_for
from tests.matrix.conftest import MatrixRecorder
from tests.matrix.support import IMAGE_TOOLS, reported, tools_env, written_rdb_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def verified(body: dict[str, Any]) -> bool:
    return any(c["type"] == "Verified" for c in (body.get("status") or {}).get("conditions") or [])


def stored_file(body: dict[str, Any], record: dict[str, Any]) -> Path:
    location: str = body["status"]["location"]
    assert location.startswith("file://")
    root = Path(location.removeprefix("file://"))
    return root.parents[2] / record["objectKey"]  # location is <root>/<namespace>/<name>/<uid>/


@pytest.mark.matrix("operator backup")
def test_the_operator_backs_up_and_verifies_a_node_and_a_cluster(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    versioned: VersionedServers,
    redis_release: Release,
    mirror: Mirror,
    matrix: MatrixRecorder,
) -> None:
    operator = start_operator(namespaces=[namespace], env=tools_env(IMAGE_TOOLS))
    node = versioned.standalone()
    cluster = versioned.cluster()
    with node.primary.client() as redis:
        datasets.seed_baseline(redis, big=False)
        engine, version = reported(redis)
        rdb_version = written_rdb_version(redis)
        slack = datasets.slack(redis)
    with cluster.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=300)
    baseline = datasets.every_database(node.primary)
    mirror.statefulset(node, namespace, "cache")
    mirror.statefulset(cluster, namespace, "shop")

    apply(kube, namespace, "node", snapshotName="node", cacheClusterId="cache", verify=True)
    apply(kube, namespace, "shards", snapshotName="shards", replicationGroupId="shop", verify=True)
    bodies = {
        name: wait_for(kube_api, namespace, name, verified, what="was verified", timeout=180, operator=operator)
        for name in ("node", "shards")
    }

    loaders = []
    for _name, body in bodies.items():
        status = body["status"]
        assert (status["phase"], status["engine"], status["engineVersion"]) == ("available", engine, version)
        assert {n["rdbVersion"] for n in status["nodeSnapshots"]} == {rdb_version}
        check = condition(body, "Verified")
        assert (check["status"], check["reason"]) == ("True", "Verified"), check
        assert "Stalled" not in {c["type"] for c in status["conditions"] if c["status"] == "True"}
        loaders.append(status["verification"]["loader"])
        document = snapshot_document_from_body(body)["Snapshot"]
        assert (document["Engine"], document["EngineVersion"]) == (engine, version)
    (record,) = bodies["node"]["status"]["nodeSnapshots"]
    restored = versioned.factory.from_rdb(stored_file(bodies["node"], record))
    assert datasets.differences(datasets.every_database(restored), baseline, slack_ms=slack) == []
    table = kube.kubectl("get", "rb", "-n", namespace, "node").stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    assert (row[header.index("ENGINE")], row[header.index("VERSION")]) == (engine, version)
    matrix.passed("operator backup", verifiedBy=loaders)
