"""Load: 200 RedisBackups created at once against 10 sources. All complete; never more snapshots at a time than
limits.maxConcurrentSnapshots (sampled from the outside: the sources' INFO persistence and the in-flight gauge);
the operator's resident memory stays within the chart's memory limit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import RedisNode
from tests.fault.audit import audit
from tests.fault.support import assert_clean, create, fill, slow_source, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e
VALUES = Path(__file__).resolve().parents[2] / "charts" / "redisbackup" / "values.yaml"
MAX_CONCURRENT = 4


def chart_memory_limit() -> int:
    limit = str(yaml.safe_load(VALUES.read_text())["resources"]["limits"]["memory"])
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    return int(limit[:-2]) * units[limit[-2:]]


def rss(pid: int) -> int:
    """Resident memory of a process and its children (the operator runs as one Python process)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def streaming(nodes: list[RedisNode]) -> int:
    """Snapshot streams open right now, asked from the outside: each is a client of type replica on its source.

    (INFO's rdb_bgsave_in_progress lags: the server reaps its RDB child up to a cron tick after the stream ended.)
    """
    count = 0
    for node in nodes:
        try:
            with node.client(socket_timeout=2) as c:
                count += len(c.client_list(_type="replica"))
        except Exception:  # a node busy forking may time out once; the next sample counts it
            continue
    return count


class Sampler(threading.Thread):
    def __init__(self, nodes: list[RedisNode], operator_pid: int, gauge: object) -> None:
        super().__init__(daemon=True, name="load sampler")
        self.nodes, self.pid, self.gauge = nodes, operator_pid, gauge
        self.max_streaming = self.max_in_flight = self.max_rss = self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            self.samples += 1
            self.max_streaming = max(self.max_streaming, streaming(self.nodes))
            self.max_rss = max(self.max_rss, rss(self.pid))
            try:
                in_flight = self.gauge()  # type: ignore[operator]
            except Exception:
                continue
            self.max_in_flight = max(self.max_in_flight, int(in_flight))


@pytest.mark.parametrize(
    ("backups", "sources"),
    [
        pytest.param(40, 10, id="small-40"),
        pytest.param(200, 10, marks=[pytest.mark.slow, pytest.mark.timeout(1500)], id="full-200"),
    ],
)
def test_a_burst_of_backups_completes_within_the_concurrency_limit_and_the_memory_limit(
    backups: int,
    sources: int,
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    nodes = []
    for index in range(sources):
        source = slow_source(redis_factory, megabytes=1, key_delay_us=3000)  # about 0.3 s per snapshot
        mirror.pods(source, namespace, f"src{index}")
        nodes.append(source.primary)
    operator = start_operator(
        namespaces=[namespace], storage=s3_storage(s3), limits={"maxConcurrentSnapshots": MAX_CONCURRENT}
    )
    gauge = lambda: operator.metrics()["redisbackup_backups_in_flight"]  # noqa: E731
    sampler = Sampler(nodes, operator.process.pid, gauge)
    sampler.start()
    names = [f"load-{index:03d}" for index in range(backups)]
    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # at once: as a GitOps sync of a directory of backups would
        list(
            pool.map(
                lambda i: create(kube_api, namespace, names[i], cacheClusterId=f"src{i % sources}-001"), range(backups)
            )
        )
    wait_settled(kube_api, namespace, names, timeout=120 + 4 * backups, operator=operator)
    elapsed = time.monotonic() - began
    sampler.stopping.set()
    sampler.join(10)
    limit = chart_memory_limit()
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(f"load: {backups} backups x {sources} sources")), result, runs=backups)
    over = [sampler.max_streaming > MAX_CONCURRENT, sampler.max_in_flight > MAX_CONCURRENT, sampler.max_rss > limit]
    row.defects += sum(over)
    row.notes = (
        f"max {sampler.max_streaming} streaming (CLIENT LIST) / {sampler.max_in_flight} in flight (gauge) of "
        f"maxConcurrentSnapshots {MAX_CONCURRENT} over {sampler.samples} samples; max RSS "
        f"{sampler.max_rss / (1 << 20):.0f} MiB of the chart's {limit >> 20} MiB limit; {elapsed:.0f}s"
    )
    assert_clean(row, result)
    assert row.available_ok == backups
    assert sampler.max_streaming <= MAX_CONCURRENT, row.notes
    assert sampler.max_in_flight <= MAX_CONCURRENT, row.notes
    assert sampler.max_rss <= limit, row.notes
    assert operator.process.alive()
