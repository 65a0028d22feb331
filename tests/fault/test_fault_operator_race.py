"""Two operator processes at the same backups at once: the old and the new Pod of a rolling update.

- The hand-over, made deterministic: the old process is frozen (SIGSTOP, as a Pod on a stalled node) in the middle
  of a snapshot and of a copy, the new one starts, then the old one is terminated — and its cancelled attempts
  clean up while the new one works. The new process must not snapshot the source the old one still holds, and the
  old one's cleanup must not remove what the new one committed meanwhile (copies take no lock on a source).
- At random: both processes run all along (a hand-over at its worst: neither ever pauses), each stopped
  gracefully or SIGKILLed at random points and started again. Seeded (REDISBACKUP_FAULT_SEED) for replays.

Either way every backup and copy ends available, every object its manifest names is present and matches (size,
CRC-64, SHA-256), and nothing else is left in the bucket.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from kubernetes import client

from devstack.faultproxy import HttpFaultProxy, Rule
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.wait import wait_until
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import get, wait_for, wait_phase
from tests.fault.audit import audit
from tests.fault.support import assert_clean, condition_of, create, fill, slow_source, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e
SEED = int(os.environ.get("REDISBACKUP_FAULT_SEED", "20251109"))


def streaming(operator: RunningOperator) -> bool:
    try:
        return operator.metrics().get("redisbackup_backups_in_flight", 0.0) > 0
    except OSError:
        return False


def directory(api: client.ApiClient, namespace: str, name: str) -> str:
    body = get(api, namespace, name)
    assert body is not None
    return f"{namespace}/{body['spec']['snapshotName']}/{body['metadata']['uid']}/"


def started(operator: RunningOperator) -> float:
    return operator.metrics().get("redisbackup_snapshots_started_total", 0.0)


@pytest.mark.smoke
def test_the_old_pods_cleanup_never_removes_what_the_new_pod_committed(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    fast = redis_factory.standalone()
    with fast.primary.client() as c:
        write_random(c, megabytes=20)  # a snapshot of three 8 MiB parts: a copy of it takes a while
    mirror.pods(fast, namespace, "fast")
    slow = slow_source(redis_factory, megabytes=24, key_delay_us=2500)
    mirror.pods(slow, namespace, "slow")
    limits = {"maxConcurrentSnapshots": 4, "snapshotAttempts": 10}
    with HttpFaultProxy(s3.endpoint_url) as proxy:
        through_proxy = s3_storage(s3)
        through_proxy.config["locations"]["s3"]["s3"]["endpoint"] = proxy.url
        # No webhook: a frozen operator's fail-closed webhook would refuse the other one's writes.
        old = start_operator(namespaces=[namespace], storage=through_proxy, limits=limits, webhook=False)
        create(kube_api, namespace, "base", cacheClusterId="fast-001")
        wait_phase(kube_api, namespace, "base", "available", timeout=120, operator=old)
        # The copy streams through the operator, as across endpoints: S3's own copy (one request) would leave no
        # upload in flight to race on. A refused CopyObject is what the operator falls back from.
        proxy.add(Rule(match=lambda request: request.is_server_side_copy, status=403))
        proxy.add(Rule(match=lambda request: request.is_part_upload, delay=3.0))
        for name, spec in (("roll", {"cacheClusterId": "slow-001"}), ("base-copy", {"sourceSnapshotName": "base"})):
            create(kube_api, namespace, name, **spec)
            prefix = directory(kube_api, namespace, name)
            wait_until(
                lambda: any(key.startswith(prefix) for key in s3.uploads()),  # noqa: B023
                timeout=90,
                interval=0.3,
                what=f"the old operator uploading {name}",
            )
        old.process.signal(signal.SIGSTOP)  # frozen mid-upload, its marks and uploads still there
        try:
            new = start_operator(namespaces=[namespace], storage=s3_storage(s3), limits=limits, webhook=False)
            wait_phase(kube_api, namespace, "base-copy", "available", timeout=120, operator=new)
            # The new process acts on the held source: it waits for the old process (or, wrongly, snapshots it).
            acted = wait_for(
                kube_api,
                namespace,
                "roll",
                lambda body: (
                    "another operator process" in condition_of(body, "Progressing").get("message", "")
                    or (body.get("status") or {}).get("phase") == "available"
                ),
                what="acted on by the new operator process",
                operator=new,
            )
            progressing_while_frozen = condition_of(acted, "Progressing")
            started_while_frozen = started(new)
        finally:
            old.process.signal(signal.SIGTERM)  # the rolling update ends the old Pod: its attempts are cancelled
            old.process.signal(signal.SIGCONT)
        old.process.popen.wait(90)
        names = ["base", "roll", "base-copy"]
        wait_settled(kube_api, namespace, names, timeout=180, operator=new)

    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("old operator frozen mid-upload, new one works, old one terminated")), result, runs=3)
    assert_clean(row, result)
    assert row.available_ok == 3
    assert started_while_frozen == 0, "the new process snapshotted a source the old one still held"
    assert progressing_while_frozen["reason"] == "InvalidCacheClusterState", progressing_while_frozen
    assert started(new) == 1, "the new process took the snapshot the old one gave up"


@pytest.mark.parametrize(
    ("backups", "copies", "rounds"),
    [
        pytest.param(4, 2, 4, id="4"),
        pytest.param(12, 4, 12, marks=pytest.mark.timeout(1800), id="12"),
    ],
)
def test_two_operator_processes_racing_on_the_same_backups_lose_nothing_committed(
    backups: int,
    copies: int,
    rounds: int,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    rng = random.Random(SEED + backups)
    for index in range(2):
        source = slow_source(redis_factory, megabytes=2, key_delay_us=rng.choice((4000, 8000)))
        mirror.pods(source, namespace, f"src{index}")
    limits = {"maxConcurrentSnapshots": 4, "snapshotAttempts": 10}
    # No webhook: the test creates while either operator may be down, which a fail-closed webhook would refuse.
    old, new = (
        start_operator(namespaces=[namespace], storage=s3_storage(s3), limits=limits, webhook=False) for _ in range(2)
    )
    names = [f"race-{index:02d}" for index in range(backups)]
    for index, name in enumerate(names):
        create(kube_api, namespace, name, cacheClusterId=f"src{index % 2}-001")
    copy_names = [f"race-copy-{index:02d}" for index in range(copies)]
    for index, name in enumerate(copy_names):
        create(kube_api, namespace, name, sourceSnapshotName=names[index % backups])
    wait_until(lambda: streaming(old) or streaming(new), timeout=60, what="a snapshot streaming")

    stops = kills = 0
    for _ in range(rounds):
        time.sleep(rng.uniform(0.5, 2.5))
        victim = rng.choice((old, new))
        if rng.random() < 0.6:
            victim.stop()  # SIGTERM: kopf cancels its snapshots, which clean up while the other process works
            stops += 1
        else:
            victim.kill()
            kills += 1
        time.sleep(rng.uniform(0.2, 1.5))
        victim.restart()
    everything = names + copy_names
    wait_settled(kube_api, namespace, everything, timeout=240 + 10 * len(everything), operator=new)

    result = audit(kube_api, s3, [namespace])
    row = record(Row(f"two operators racing, SIGTERM x{stops} SIGKILL x{kills} ({backups} backups, {copies} copies)"))
    fill(row, result, runs=len(everything))
    assert_clean(row, result)
    assert row.available_ok == len(everything), f"every backup and copy is available: {result.reasons}"
    assert old.process.alive()
    assert new.process.alive()
