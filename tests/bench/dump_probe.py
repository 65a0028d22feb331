"""Run one snapshot in a fresh process and report its time and memory, for the benchmark.

    python -m tests.bench.dump_probe '<json: redis, to, cluster, s3 options…>'  →  prints one JSON line

A separate process, so peak RSS (VmHWM) reflects the snapshot alone: the baseline is taken after every import
and the store's client are ready, just before the first byte is requested.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.plan import SnapshotPlan, plan_single_node
from redisbackup.domain.source import ConnectionSettings, NodeAddress
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.location import open_store
from redisbackup.workflows.budget import StreamBudget
from redisbackup.workflows.planning import plan_cluster_snapshot
from redisbackup.workflows.snapshot import take_snapshot


def _status_kib(field: str) -> int:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


async def probe(options: dict[str, Any]) -> dict[str, Any]:
    settings = ConnectionSettings()
    store = open_store(options["to"], **options.get("s3", {}))
    if options.get("nodes"):  # several nodes at once, each its own snapshot, in this one process
        return await probe_many(
            options["nodes"], store, settings, options.get("budget_mib"), options.get("streams", 16)
        )
    host, port = options["redis"].rsplit(":", 1)
    address = NodeAddress(host, int(port))
    plan: SnapshotPlan
    if options.get("cluster"):
        plan = (await plan_cluster_snapshot("bench", [address], settings)).plan
    else:
        plan = plan_single_node("bench", address)
    location = SnapshotLocation("bench", "bench", uuid.uuid4().hex)
    rss_before = _status_kib("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    manifest = await take_snapshot(plan, store, location, settings)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    await store.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime,
        "bytes": manifest.total_size,
        "rss_before_kib": rss_before,
        "peak_rss_kib": _status_kib("VmHWM"),
        "directory": location.directory,
        "nodes": [n.source_node.model_dump() for n in manifest.node_snapshots],
    }


async def probe_many(
    nodes: list[str], store: ObjectStore, settings: ConnectionSettings, budget_mib: int | None, streams: int
) -> dict[str, Any]:
    """N single-node snapshots at once (as the operator takes N backups, or one N-shard cluster's streams), sharing
    one stream budget as the operator's snapshots do (budget_mib None: unbounded memory)."""
    budget = StreamBudget(budget_mib << 20 if budget_mib else None, streams)
    plans = []
    for node in nodes:
        host, port = node.rsplit(":", 1)
        plans.append(plan_single_node("bench", NodeAddress(host, int(port))))
    rss_before = _status_kib("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    manifests = await asyncio.gather(
        *(
            take_snapshot(plan, store, SnapshotLocation("bench", "bench", uuid.uuid4().hex), settings, budget=budget)
            for plan in plans
        )
    )
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    await store.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime,
        "bytes": sum(m.total_size for m in manifests),
        "rss_before_kib": rss_before,
        "peak_rss_kib": _status_kib("VmHWM"),
        "budget_peak_bytes": budget.peak_used,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(json.loads(sys.argv[1])))))
