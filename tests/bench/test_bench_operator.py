"""Benchmark of the operator on the real control plane (`make bench`; not part of `make test`).

    (1) creating latency: 100 RedisBackups applied one after the other; each from its create call until the
        operator's `creating` status is seen on a watch. Baseline: until the watch shows the object at all.
    (2) 1,000 small RedisBackups (10 sources x 100) to `available`: total time, operator peak RSS, API writes per
        backup. Baseline: the same 1,000 snapshots taken by take_snapshot in this process, 4 at a time (the
        operator's default limit), without Kubernetes.
    (3) operator restart with those 1,000 finished backups: time until it is idle again (a new backup made after
        the restart is available and the process is back to idle CPU), and the snapshots re-taken (must be 0),
        counted by the Redis servers themselves (INFO stats sync_full) and by the operator's metric.

    REDISBACKUP_BENCH_LATENCY_CRS=100 REDISBACKUP_BENCH_BACKUPS=1000 REDISBACKUP_BENCH_SOURCES=10 make bench

Nothing asserts a time; the table shows each figure against its target (creating p95 <= 1 s, RSS <= 200 MB at
1,000, 0 re-taken). The machine is shared: the table starts with its load.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from devstack.cluster import Cluster
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.operator import RunningOperator
from devstack.redis_nodes import RedisNode, fill_mixed
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.plan import plan_single_node
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.storage.s3 import S3Settings, S3Store
from redisbackup.workflows.snapshot import take_snapshot
from tests.bench.cpu import process_cpu_seconds
from tests.bench.summary import record, verdict
from tests.bench.test_bench_datapath import machine_state

pytestmark = pytest.mark.slow

LATENCY_CRS = int(os.environ.get("REDISBACKUP_BENCH_LATENCY_CRS", "100"))
BACKUPS = int(os.environ.get("REDISBACKUP_BENCH_BACKUPS", "1000"))
SOURCES = int(os.environ.get("REDISBACKUP_BENCH_SOURCES", "10"))
GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackups"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}


# ------------------------------------------------------------------------------------------------ watching
@dataclass
class Timeline:
    """When the watch first showed each RedisBackup, and in which phase (monotonic seconds)."""

    seen: dict[str, float] = field(default_factory=dict)
    phases: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, phase: str, prefix: str = "") -> int:
        with self.lock:
            return sum(1 for (n, p) in self.phases if p == phase and n.startswith(prefix))

    def when(self, name: str, phase: str) -> float | None:
        with self.lock:
            return self.phases.get((name, phase))


@contextlib.contextmanager
def watching(kube: Cluster, namespace: str, *, from_now: bool = False) -> Iterator[Timeline]:
    """`from_now`: start at the namespace's current resourceVersion, not replaying the objects already there."""
    timeline, stop = Timeline(), threading.Event()
    version: str | None = None
    if from_now:
        with kube.api_client() as api:
            listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, limit=1
            )
        version = listing["metadata"]["resourceVersion"]

    def run() -> None:
        nonlocal version
        with kube.api_client() as api:
            objects = client.CustomObjectsApi(api)
            while not stop.is_set():
                stream = watch.Watch().stream(
                    objects.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    resource_version=version,
                    timeout_seconds=5,
                )
                for event in stream:
                    now = time.monotonic()
                    body = event["object"]
                    name = body["metadata"]["name"]
                    version = body["metadata"]["resourceVersion"]
                    phase = (body.get("status") or {}).get("phase")
                    with timeline.lock:
                        timeline.seen.setdefault(name, now)
                        if phase:
                            timeline.phases.setdefault((name, phase), now)
                    if stop.is_set():
                        break

    thread = threading.Thread(target=run, name="watch", daemon=True)
    thread.start()
    try:
        yield timeline
    finally:
        stop.set()
        thread.join(10)


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what} did not happen in {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started


# ------------------------------------------------------------------------------------------------ the operator process
def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_idle(pid: int, *, timeout: float = 300.0, threshold: float = 0.03) -> float:
    """Seconds until the process used less than `threshold` of a CPU over two consecutive half-seconds."""
    started, quiet = time.monotonic(), 0
    last = process_cpu_seconds(pid)
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = process_cpu_seconds(pid)
        quiet = quiet + 1 if (now - last) / 0.5 < threshold else 0
        last = now
        if quiet >= 2:
            return time.monotonic() - started - 1.0
    return float("nan")


def api_writes(kube: Cluster) -> dict[str, float]:
    """The apiserver's own count of write requests, per resource (its /metrics)."""
    text = kube.kubectl("get", "--raw", "/metrics").stdout
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        labels = dict(
            part.split("=", 1) for part in labels_text[len("apiserver_request_total{") : -1].split(",") if "=" in part
        )
        labels = {key: val.strip('"') for key, val in labels.items()}
        if labels.get("verb") in WRITE_VERBS:
            resource = labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else "")
            counts[resource] = counts.get(resource, 0.0) + float(value)
    return counts


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after if after[key] - before.get(key, 0.0) > 0}


def create(objects: client.CustomObjectsApi, namespace: str, name: str, source: str) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RedisBackup",
        "metadata": {"name": name},
        "spec": {"snapshotName": name, "cacheClusterId": source},
    }
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def full_syncs(nodes: list[RedisNode]) -> int:
    return sum(int(node.info("stats")["sync_full"]) for node in nodes)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# ------------------------------------------------------------------------------------------------ the baseline
async def baseline_snapshots(nodes: list[RedisNode], count: int, s3: S3Bucket, parallel: int = 4) -> float:
    """`count` snapshots spread over `nodes`, 4 at a time, straight into S3: the data path without Kubernetes."""
    store = S3Store(S3Settings(**s3.settings(prefix="baseline")))  # type: ignore[arg-type]
    gate = asyncio.Semaphore(parallel)
    locks = {node.name: asyncio.Lock() for node in nodes}  # one snapshot per node at a time, as the operator does

    async def one(index: int) -> None:
        node = nodes[index % len(nodes)]
        async with gate, locks[node.name]:
            location = SnapshotLocation("bench", f"baseline-{index}", uuid.uuid4().hex)
            plan = plan_single_node(node.name, NodeAddress(node.host, node.port))
            await take_snapshot(plan, store, location, ConnectionSettings())

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await store.close()
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ the benchmark
def test_operator_benchmark(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    load_before = machine_state()
    nodes = []
    for index in range(SOURCES):
        topology = redis_factory.standalone()
        with topology.primary.client() as redis:
            fill_mixed(redis, prefix=f"k{index}", count=50)
        mirror.pods(topology, namespace, f"src{index}")
        nodes.append(topology.primary)
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3), test_limits=False)
    objects = client.CustomObjectsApi(kube_api)
    rows: list[tuple[str, ...]] = []

    with watching(kube, namespace) as timeline:
        # (1) creating latency, one CR at a time.
        started: dict[str, float] = {}
        for index in range(LATENCY_CRS):
            name = f"latency-{index:03d}"
            started[name] = time.monotonic()
            create(objects, namespace, name, f"src{index % SOURCES}-001")
            wait_for(lambda n=name: (n, "creating") in timeline.phases, 30, f"{name} creating")  # type: ignore[misc]
        creating = [timeline.phases[(n, "creating")] - t for n, t in started.items()]
        seen = [timeline.seen[n] - t for n, t in started.items()]
        wait_for(lambda: timeline.count("available") >= LATENCY_CRS, 600, "the latency backups available")
        rows += [
            (
                "creating latency p50",
                f"{percentile(creating, 0.5) * 1000:.0f} ms",
                f"{percentile(seen, 0.5) * 1000:.0f} ms",
                "",
            ),
            (
                "creating latency p95",
                f"{percentile(creating, 0.95) * 1000:.0f} ms",
                f"{percentile(seen, 0.95) * 1000:.0f} ms",
                "<= 1000 ms",
                verdict(percentile(creating, 0.95) <= 1.0),
            ),
        ]

        # (2) 1,000 small backups to available.
        writes_before = api_writes(kube)
        began = time.monotonic()
        for index in range(BACKUPS):
            create(objects, namespace, f"bulk-{index:04d}", f"src{index % SOURCES}-001")
        created_in = time.monotonic() - began
        peak_sampler = []

        def all_available() -> bool:
            peak_sampler.append(rss_mb(operator.process.pid))
            return timeline.count("available") >= LATENCY_CRS + BACKUPS

        wait_for(all_available, 3600, f"{BACKUPS} backups available")
        total = time.monotonic() - began
        failed = timeline.count("failed")
        writes = difference(api_writes(kube), writes_before)
        writes["redisbackups"] = writes.get("redisbackups", 0) - BACKUPS  # our own creates are not the operator's
        per_backup = sum(writes.values()) / BACKUPS
        peak = rss_mb(operator.process.pid, "VmHWM")
        idle_rss = rss_mb(operator.process.pid)

    baseline = asyncio.run(baseline_snapshots(nodes, BACKUPS, s3))
    rows += [
        (
            f"{BACKUPS} backups to available",
            f"{total:.1f} s",
            f"{baseline:.1f} s",
            f"x{total / baseline:.2f} of baseline",
        ),
        ("  creating the CRs (API + webhook)", f"{created_in:.1f} s", "", ""),
        ("  available after the last create", f"{total - created_in:.1f} s", "", ""),
        ("  failed", str(failed), "", "0", verdict(failed == 0)),
        ("operator RSS peak / idle", f"{peak:.0f} / {idle_rss:.0f} MB", "", "<= 200 MB", verdict(peak <= 200)),
        (
            "API writes per backup",
            f"{per_backup:.1f}",
            "",
            ", ".join(f"{k} {v / BACKUPS:.2f}" for k, v in sorted(writes.items())),
        ),
    ]

    # (3) restart with every backup terminal.
    syncs = full_syncs(nodes)
    operator.stop()
    began = time.monotonic()
    operator.restart(timeout=300)
    serving = time.monotonic() - began
    create(objects, namespace, "after-restart", "src0-001")
    probe = wait_for(lambda: available(kube_api, namespace, "after-restart"), 300, "the backup made after the restart")
    idle = wait_idle(operator.process.pid)
    retaken_redis = full_syncs(nodes) - syncs - 1
    retaken_metric = operator.metrics()["redisbackup_snapshots_started_total"] - 1
    after_rss = rss_mb(operator.process.pid)
    rows += [
        ("restart: serving again", f"{serving:.1f} s", "", ""),
        ("restart: new backup available", f"{serving + probe:.1f} s", "", ""),
        ("restart: idle CPU again", f"{time.monotonic() - began:.1f} s", "", f"(idle {idle:.1f} s after the probe)"),
        (
            "restart: snapshots re-taken",
            f"{retaken_redis} (Redis) / {retaken_metric:.0f} (metric)",
            "",
            "0",
            verdict(retaken_redis == 0 and retaken_metric == 0),
        ),
        ("operator RSS after restart", f"{after_rss:.0f} MB", "", "<= 200 MB", verdict(after_rss <= 200)),
    ]
    print_table(rows, load_before, machine_state(), operator)


def available(kube_api: client.ApiClient, namespace: str, name: str) -> bool:
    body: Any = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return bool((body.get("status") or {}).get("phase") == "available")


def print_table(rows: list[tuple[str, ...]], before: str, after: str, operator: RunningOperator) -> None:
    """Rows: (measure, value, baseline, target[, verdict]); a row with a target of its own says met or MISSED."""
    rows = [(*row, "")[:5] for row in rows]
    header = ("measure", "operator", "baseline", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"\n\noperator benchmark ({LATENCY_CRS} latency CRs, {BACKUPS} backups over {SOURCES} sources)")
    print(f"machine before: {before}\nmachine after:  {after}\n")
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    print(f"\noperator log: {operator.process.log_path}\n")
    record("operator", list(rows), after)
