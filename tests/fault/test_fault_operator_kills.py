"""The operator SIGKILLed at random points while it takes (and deletes) many backups, restarted each time.

Seeded (REDISBACKUP_FAULT_SEED) so a failing run can be replayed: the same kills at the same moments relative to
the work, the same deletions. Afterwards every backup must be available with a matching CRC or failed with a typed
reason, and at least 90% available (a kill is no reason to fail); nothing stuck, no orphan objects, no backup
snapshotted twice (a final restart must take no snapshot of a finished backup, counted with INFO stats sync_full on
the sources).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from tests.e2e.operator_support import delete, get, wait_gone, wait_phase
from tests.fault.audit import audit
from tests.fault.support import assert_clean, create, fill, full_syncs, slow_source, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e
SEED = int(os.environ.get("REDISBACKUP_FAULT_SEED", "20251109"))


@pytest.mark.parametrize(
    ("backups", "sources", "max_kills"),
    [
        pytest.param(6, 2, 3, marks=pytest.mark.smoke, id="smoke-6"),
        pytest.param(50, 5, 30, marks=[pytest.mark.slow, pytest.mark.timeout(1800)], id="full-50"),
    ],
)
def test_an_operator_killed_at_random_points_loses_nothing_and_snapshots_nothing_twice(
    backups: int,
    sources: int,
    max_kills: int,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    rng = random.Random(SEED + backups)
    nodes = []
    for index in range(sources):
        source = slow_source(redis_factory, megabytes=1, key_delay_us=rng.choice((2000, 5000, 10000)))
        mirror.pods(source, namespace, f"src{index}")
        nodes.append(source.primary)
    operator = start_operator(
        namespaces=[namespace], storage=s3_storage(s3), limits={"maxConcurrentSnapshots": 4, "snapshotAttempts": 10}
    )
    names = [f"kill-{index:03d}" for index in range(backups)]
    for index, name in enumerate(names):
        create(kube_api, namespace, name, cacheClusterId=f"src{index % sources}-001")
    to_delete = rng.sample(names, max(1, backups // 10))
    deleted: list[str] = []

    kills = 0
    deadline = time.monotonic() + 60 + 12 * backups
    while kills < max_kills and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 3.0))
        if to_delete and rng.random() < 0.4:
            deleted.append(to_delete.pop())
            delete(kube_api, namespace, deleted[-1])  # its deletion may be what the kill interrupts
            time.sleep(rng.uniform(0.0, 1.0))
        operator.kill()
        kills += 1
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.5, 2.0))  # down a while: events pile up for the next start
        operator.restart()
        if all(p in ("available", "failed") for p in wait_settled(kube_api, namespace, names, timeout=0).values()):
            break
    for name in to_delete:
        delete(kube_api, namespace, name)
    deleted += to_delete
    kept = [n for n in names if n not in deleted]
    wait_settled(kube_api, namespace, kept, timeout=120 + 5 * backups, operator=operator)
    for name in deleted:
        wait_gone(kube_api, namespace, name, timeout=120)

    # A clean restart, then one more backup: exactly one more full SYNC (nothing finished is taken again).
    syncs = full_syncs(nodes)
    operator.stop()
    operator.restart()
    create(kube_api, namespace, "after", cacheClusterId="src0-001")
    wait_phase(kube_api, namespace, "after", "available", timeout=120, operator=operator)
    retaken = full_syncs(nodes) - syncs - 1

    result = audit(kube_api, s3, [namespace])
    row = record(Row(f"operator SIGKILL x{kills} ({backups} backups, seed {SEED + backups})"))
    row.duplicates = max(retaken, 0)
    fill(row, result, runs=backups + 1)
    row.notes = f"{len(deleted)} deleted mid-run; {syncs} full SYNCs in all; " + row.notes
    assert_clean(row, result)
    # A kill interrupts an attempt; it is no reason for a backup to fail (its sources are up all along): most end
    # available, not merely typed.
    settled = len(kept) + 1  # and "after"
    assert row.available_ok >= 0.9 * settled, f"only {row.available_ok} of {settled} available: {row.notes}"
    assert retaken == 0, f"{retaken} finished backups were snapshotted again after a clean restart"
    assert get(kube_api, namespace, "after") is not None
    assert operator.process.alive()


def test_an_operator_killed_while_it_snapshots_a_cluster_leaves_whole_snapshots_or_nothing(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    rng = random.Random(SEED)
    topology = redis_factory.cluster(shards=3, replicas=1, extra={"rdb-key-save-delay": "1000"})
    with topology.cluster_client() as redis:
        for index in range(1500):
            redis.set(f"key-{index}", os.urandom(2000))
    redis_nodes.wait_replicas_in_sync(topology)
    redis_nodes.wait_cluster_gossip(topology)
    mirror.statefulset(topology, namespace, "shop")
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3), limits={"snapshotAttempts": 10})
    names = [f"shard-kill-{index}" for index in range(8)]
    for name in names:
        create(kube_api, namespace, name, replicationGroupId="shop")
    kills = 0
    while kills < 10:
        time.sleep(rng.uniform(0.5, 2.5))
        operator.kill()
        kills += 1
        operator.restart()
        if all(p in ("available", "failed") for p in wait_settled(kube_api, namespace, names, timeout=0).values()):
            break
    wait_settled(kube_api, namespace, names, timeout=240, operator=operator)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(f"operator SIGKILL x{kills} (8 cluster backups, 3 shards)")), result, runs=len(names))
    row.notes = f"{full_syncs(topology.nodes)} full SYNCs over 6 nodes; " + row.notes
    assert_clean(row, result)
    assert row.available_ok == len(names)
