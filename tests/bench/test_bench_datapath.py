"""Benchmark of the snapshot data path against `redis-cli --rdb` (+ a boto3 upload), measured in the same run.

    make bench            # the issue's sizes: 1 GB of 10 KB random values, 8 M small keys, a 3-shard cluster
    REDISBACKUP_BENCH_VALUES_MB=200 REDISBACKUP_BENCH_SMALL_KEYS=1000000 make bench     # a quick run
    REDISBACKUP_BENCH_DATAPATH_PARTS=parallel pytest tests/bench/test_bench_datapath.py -s  # one part of
        single (a)-(e), cluster (f), parallel (N = 1, 2, 3, 6 streams; 3 processes), budget (64 streams)

(a) redis-cli --rdb FILE   (b) (a) then boto3 upload_file of FILE to the same S3 server
(c) our dump to a directory   (d) our dump to S3   (e) peak RSS growth of our process during (d)
(f) a 3-shard cluster dump vs three `redis-cli --rdb` of its shards at once (target <= 1.10x), and vs its
    largest shard alone

Each measurement is repeated (REDISBACKUP_BENCH_REPEAT, default 2), interleaved, and the fastest run counts:
these machines are shared, and the minimum is the least disturbed. Nothing here asserts a time; the table
shows the ratios against the targets. The parallel rows also show where the CPU went (client and servers, per
GB) and how many cores the run kept busy: a run near every core is bound by CPU, not by waiting.

Measured on the 2-core machine (issue 19, 2026-12-07; `REDISBACKUP_BENCH_DATAPATH_PARTS=parallel
REDISBACKUP_BENCH_REPEAT=3`, load 2-8 from the bench itself): from N = 2 the runs keep 1.8-1.9 of 2 cores busy and
the Redis servers and their forks spend 7.5-8.2 CPU s/GB (10 KB random values), so each ratio follows the CPU each
byte costs both sides. The checks alone (hashlib SHA-256 ~0.56 s/GB, anycrc CRC-64 ~0.07 s/GB) leave at best 0.94x
of redis-cli ("at best" rows). Before, our streams ran on the event loop with the checksums in worker threads and
cost 2.9-4.4 client CPU s/GB (redis-cli 1.5-1.9): 0.84-0.92x. Since each stream is read, checked and written by a
thread of its own (redis.replication.RdbStream.pump), they cost 2.0-2.5 s/GB, at that floor: 1.00/0.89/0.95/0.96x
for N = 1/2/3/6 in that run. Separate `redisbackup dump` processes add their start-up (interpreter, pydantic, asyncio:
~0.2 CPU s each): 3.35 CPU s/GB for 3 x 200 MB, 1.15x the time of three redis-cli.

(d) is bound by CPU too (2026-12-07, 1 GB of 10 KB values): Redis's fork spends ~8.5 CPU s and SeaweedFS ~9.7-10.2
CPU s on the same two cores (boto3's upload_file costs SeaweedFS ~11.9), our client ~2.5, so (d) needs >= 10.4 s
here; it took 10.4-11.2 s (0.70-0.72x), the target allowing 10.1-10.9 s. Larger parts (32, 64 MiB) or 4 parts in
flight changed nothing beyond noise. With 8 M small keys, the fork alone takes as long as redis-cli ((a): 8.6 s,
redis-cli spends 0.5 CPU s) and the upload only 3 s more, so 0.70x of (b) (8.2 s) is less than (a) itself: no
client can meet it whenever the upload takes under 0.43x of (a). The row under (d) shows both floors for each run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anycrc
import boto3.s3.transfer
import pytest

from devstack import redis_nodes
from devstack.processes import install_cleanup_handlers
from devstack.redis_nodes import RedisNode, Topology
from devstack.s3 import S3Server
from tests.bench.cpu import process_cpu_seconds, rusage_cpu_seconds
from tests.bench.summary import record
from tests.e2e.datapath_support import write_random

pytestmark = pytest.mark.slow

VALUES_MB = int(os.environ.get("REDISBACKUP_BENCH_VALUES_MB", "1000"))
SMALL_KEYS = int(os.environ.get("REDISBACKUP_BENCH_SMALL_KEYS", "8000000"))
REPEAT = int(os.environ.get("REDISBACKUP_BENCH_REPEAT", "2"))
# Which parts run (a quicker run of one part, e.g. REDISBACKUP_BENCH_DATAPATH_PARTS=parallel): all by default.
ALL_PARTS = ("single", "cluster", "parallel", "budget")
PARTS = frozenset(os.environ.get("REDISBACKUP_BENCH_DATAPATH_PARTS", ",".join(ALL_PARTS)).split(","))
if PARTS - set(ALL_PARTS):  # a misspelt part would otherwise run nothing and print an empty table
    raise ValueError(f"REDISBACKUP_BENCH_DATAPATH_PARTS: unknown {sorted(PARTS - set(ALL_PARTS))}; use {ALL_PARTS}")
MIB = 1 << 20


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    size: int = 0
    rss_growth: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # CPU seconds of the client side (not of Redis or S3)
    server_cpu: list[float] = field(default_factory=list)  # CPU seconds of the Redis servers and their forks
    s3_cpu: list[float] = field(default_factory=list)  # CPU seconds of the S3 server (single node runs)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def rate(self) -> float:
        return self.size / self.best / MIB


def timed(action: Callable[[], Any], who: int = resource.RUSAGE_CHILDREN) -> tuple[float, float]:
    """Wall seconds and CPU seconds (of the finished children, or of this process) of `action`."""
    cpu, started = rusage_cpu_seconds(who), time.perf_counter()
    action()
    return time.perf_counter() - started, rusage_cpu_seconds(who) - cpu


def server_cpu_seconds(nodes: list[RedisNode]) -> float:
    """CPU seconds the servers have spent, their reaped children (the forks that wrote each RDB) included.

    A fork's time reaches its parent's cutime/cstime once the server reaps it (in its next cron tick), so this
    first waits until no server has a child left."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        Path(f"/proc/{n.process.pid}/task/{n.process.pid}/children").read_text().strip() for n in nodes
    ):
        time.sleep(0.02)
    return sum(process_cpu_seconds(n.process.pid, reaped_children=True) for n in nodes)


def probe(options: dict[str, Any]) -> dict[str, Any]:
    """Our dump in a fresh process (tests/bench/dump_probe.py), so its RSS is its own."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.dump_probe", json.dumps(options)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def installed_env() -> dict[str, str]:
    """The environment for our command's processes, with bytecode caching on (PYTHONDONTWRITEBYTECODE dropped):
    an installed package (pip, the image) has its .pyc files; compiling every module at each start would measure
    a cost no user pays."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def machine_state() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    top = subprocess.run(
        ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:5]
    busy = ", ".join(" ".join(line.split()[::-1]) + "%" for line in top)
    return f"load {load} on {os.cpu_count()} CPUs; busiest: {busy}"


class Bench:
    def __init__(self, work: Path, s3: S3Server) -> None:
        self.work = work
        self.s3 = s3
        self.bucket = "bench"
        s3.create_bucket(self.bucket)
        self.client = s3.client()
        self.s3_options = {
            "endpoint_url": s3.endpoint_url,
            "region": s3.region,
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
        }

    def clean_bucket(self) -> None:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})

    def redis_cli(self, node: RedisNode) -> tuple[float, float, Path]:
        target = self.work / "redis-cli.rdb"
        argv = ["redis-cli", "-h", node.host, "-p", str(node.port), "--rdb", str(target)]
        seconds, cpu = timed(lambda: subprocess.run(argv, check=True, capture_output=True))
        return seconds, cpu, target

    def upload(self, path: Path) -> tuple[float, float]:
        transfer = boto3.s3.transfer.TransferConfig()
        return timed(
            lambda: self.client.upload_file(str(path), self.bucket, "baseline/dump.rdb", Config=transfer),
            resource.RUSAGE_SELF,
        )

    def ours(self, node: RedisNode, to: str, *, cluster: bool = False) -> dict[str, Any]:
        result = self.dump(node, to, cluster=cluster)
        self.clean_store()
        return result

    def dump(self, node: RedisNode, to: str, *, cluster: bool = False) -> dict[str, Any]:
        """Our dump of `node` to `to` in a fresh process; the snapshot stays until clean_store()."""
        options: dict[str, Any] = {"redis": f"{node.host}:{node.port}", "to": to, "cluster": cluster}
        if to.startswith("s3://"):
            options["s3"] = self.s3_options
        return probe(options)

    def clean_store(self) -> None:
        subprocess.run(["rm", "-rf", str(self.work / "store")], check=True)
        self.clean_bucket()

    def single_node(self, node: RedisNode) -> dict[str, Sample]:
        samples = {k: Sample() for k in "abcd"}
        for _ in range(REPEAT):
            servers = self._servers_cpu(node)
            a, a_cpu, rdb = self.redis_cli(node)
            samples["a"].seconds.append(a)
            samples["a"].cpu.append(a_cpu)
            samples["a"].size = samples["b"].size = rdb.stat().st_size
            upload, upload_cpu = self.upload(rdb)
            samples["b"].seconds.append(a + upload)
            samples["b"].cpu.append(a_cpu + upload_cpu)
            self._add_servers_cpu(samples["b"], node, servers)
            rdb.unlink()
            self.clean_bucket()
            for key, to in (("c", f"file://{self.work}/store"), ("d", f"s3://{self.bucket}/ours")):
                servers = self._servers_cpu(node)
                result = self.dump(node, to)
                self._add_servers_cpu(samples[key], node, servers)  # before the deletion: not the S3 server's work
                self.clean_store()
                samples[key].seconds.append(result["seconds"])
                samples[key].cpu.append(result["cpu_seconds"])
                samples[key].size = result["bytes"]
                samples[key].rss_growth.append((result["peak_rss_kib"] - result["rss_before_kib"]) * 1024)
        return samples

    def _servers_cpu(self, node: RedisNode) -> tuple[float, float]:
        return server_cpu_seconds([node]), process_cpu_seconds(self.s3.process.pid)

    def _add_servers_cpu(self, sample: Sample, node: RedisNode, before: tuple[float, float]) -> None:
        redis, s3 = self._servers_cpu(node)
        sample.server_cpu.append(redis - before[0])
        sample.s3_cpu.append(s3 - before[1])

    def chosen_nodes(self, topology: Topology) -> tuple[list[RedisNode], RedisNode]:
        """The nodes a cluster dump reads (one per shard), and the one holding the most data."""
        result = self.ours(topology.primary, f"file://{self.work}/store", cluster=True)
        hosts = {n["host"] for n in result["nodes"]}
        chosen = [n for n in topology.nodes if n.host in hosts]
        return chosen, max(chosen, key=lambda n: n.info("memory")["used_memory"])

    def cluster(self, topology: Topology, to: str) -> tuple[Sample, Sample]:
        whole, largest = Sample(), Sample()
        _, biggest = self.chosen_nodes(topology)
        for _ in range(REPEAT):
            result = self.ours(topology.primary, to, cluster=True)
            whole.seconds.append(result["seconds"])
            whole.cpu.append(result["cpu_seconds"])
            whole.size = result["bytes"]
            alone = self.ours(biggest, to)
            largest.seconds.append(alone["seconds"])
            largest.cpu.append(alone["cpu_seconds"])
            largest.size = alone["bytes"]
        return whole, largest

    def parallel_streams(self, nodes: list[RedisNode]) -> tuple[Sample, Sample]:
        """N nodes at once: N `redis-cli --rdb` processes (the machine's own parallel baseline) vs our N streams in
        one process (as one N-shard backup, or N backups in one operator)."""
        theirs, ours = Sample(), Sample()
        to = f"file://{self.work}/store"
        for _ in range(REPEAT):
            server = server_cpu_seconds(nodes)
            seconds, cpu = timed(lambda: self._redis_cli_all(nodes, checksum=False))
            theirs.server_cpu.append(server_cpu_seconds(nodes) - server)
            theirs.seconds.append(seconds)
            theirs.cpu.append(cpu)
            theirs.size = self._rdb_bytes(nodes)
            server = server_cpu_seconds(nodes)
            result = self.ours_many(nodes, to)
            ours.server_cpu.append(server_cpu_seconds(nodes) - server)
            ours.seconds.append(result["seconds"])
            ours.cpu.append(result["cpu_seconds"])
            ours.size = result["bytes"]
        return theirs, ours

    def separate_processes(self, nodes: list[RedisNode]) -> tuple[Sample, Sample, Sample]:
        """Three shells' worth: N `redis-cli --rdb`, N `redis-cli --rdb && sha256sum`, N `redisbackup dump`."""
        plain, summed, dumps = Sample(), Sample(), Sample()
        for _ in range(REPEAT):
            for sample, checksum in ((plain, False), (summed, True)):
                server = server_cpu_seconds(nodes)
                seconds, cpu = timed(lambda checksum=checksum: self._redis_cli_all(nodes, checksum=checksum))  # type: ignore[misc]
                sample.server_cpu.append(server_cpu_seconds(nodes) - server)
                sample.seconds.append(seconds)
                sample.cpu.append(cpu)
                sample.size = self._rdb_bytes(nodes)
            argv = [
                [sys.executable, "-m", "redisbackup.cli.main", "dump", "--redis", f"redis://{n.host}:{n.port}", "-q",
                 "--to", f"file://{self.work}/dump-{n.name}"]
                for n in nodes
            ]  # fmt: skip
            server = server_cpu_seconds(nodes)
            seconds, cpu = timed(lambda argv=argv: self._all_at_once(argv))  # type: ignore[misc]
            dumps.server_cpu.append(server_cpu_seconds(nodes) - server)
            dumps.seconds.append(seconds)
            dumps.cpu.append(cpu)
            dumps.size = plain.size
            subprocess.run(["sh", "-c", f"rm -rf {self.work}/dump-*"], check=True)
        return plain, summed, dumps

    def _all_at_once(self, argvs: list[list[str]]) -> None:
        processes = [
            subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=installed_env())
            for a in argvs
        ]
        assert all(p.wait() == 0 for p in processes)

    def _redis_cli_all(self, nodes: list[RedisNode], *, checksum: bool) -> None:
        commands = []
        for n in nodes:
            rdb = self.work / f"{n.name}.rdb"
            command = f"redis-cli -h {n.host} -p {n.port} --rdb {rdb} >/dev/null"
            commands.append(["sh", "-c", f"{command} && sha256sum {rdb} >/dev/null" if checksum else command])
        self._all_at_once(commands)

    def _rdb_bytes(self, nodes: list[RedisNode]) -> int:
        size = sum((self.work / f"{n.name}.rdb").stat().st_size for n in nodes)
        for n in nodes:
            (self.work / f"{n.name}.rdb").unlink()
        return size

    def ours_many(self, nodes: list[RedisNode], to: str) -> dict[str, Any]:
        result = probe({"nodes": [f"{n.host}:{n.port}" for n in nodes], "to": to})
        subprocess.run(["rm", "-rf", str(self.work / "store")], check=True)
        return result

    def redis_cli_scaling(self, topology: Topology) -> tuple[Sample, Sample]:
        """The machine's own parallel scaling: redis-cli --rdb of every chosen node at once vs the largest alone."""
        chosen, biggest = self.chosen_nodes(topology)
        together, alone = Sample(), Sample()
        for _ in range(REPEAT):

            def all_at_once() -> None:
                argv = [["redis-cli", "-h", n.host, "-p", str(n.port), "--rdb", str(self.work / f"{n.name}.rdb")]
                        for n in chosen]  # fmt: skip
                processes = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argv]
                assert all(p.wait() == 0 for p in processes)

            seconds, cpu = timed(all_at_once)
            together.seconds.append(seconds)
            together.cpu.append(cpu)
            together.size = sum((self.work / f"{n.name}.rdb").stat().st_size for n in chosen)
            seconds, cpu, rdb = self.redis_cli(biggest)
            alone.seconds.append(seconds)
            alone.cpu.append(cpu)
            alone.size = rdb.stat().st_size
            for path in self.work.glob("*.rdb"):
                path.unlink()
        return together, alone


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Bench:
    install_cleanup_handlers()
    return Bench(tmp_path_factory.mktemp("bench"), s3_server)


def row(dataset: str, label: str, sample: Sample | None, ratio: str = "", target: str = "", note: str = "") -> str:
    seconds = f"{sample.best:8.2f}" if sample else " " * 8
    rate = f"{sample.rate:8.1f}" if sample and sample.size else " " * 8
    cpu = f"{min(sample.cpu):7.2f}" if sample and sample.cpu else " " * 7
    return f"{dataset:<26} {label:<44} {seconds} {rate} {cpu}  {ratio:<14} {target:<9} {note}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ratio_text(ratio: float, target: float) -> str:
    """Two decimals, or three when two would round a miss onto its target (0.948 shown as 0.95 beside MISSED)."""
    return f"{ratio:.3f}" if round(ratio, 2) == target and ratio != target else f"{ratio:.2f}"


def report_single(dataset: str, s: dict[str, Sample]) -> list[str]:
    c_ratio = s["c"].rate / s["a"].rate
    d_ratio = s["d"].best / s["b"].best
    rss = max(s["d"].rss_growth)
    return [
        row(dataset, "(a) redis-cli --rdb FILE", s["a"]),
        row("", "(b) (a) + boto3 upload_file to S3", s["b"]),
        row(
            "",
            "(c) redisbackup dump -> directory",
            s["c"],
            f"{ratio_text(c_ratio, 0.9)}x (a) rate",
            ">= 0.90",
            verdict(c_ratio >= 0.9),
        ),
        row(
            "",
            "(d) redisbackup dump -> S3",
            s["d"],
            f"{ratio_text(d_ratio, 0.7)}x (b) time",
            "<= 0.70",
            verdict(d_ratio <= 0.7),
        ),
        s3_cpu_row(s),
        row("", f"(e) peak RSS growth during (d): {rss / MIB:.1f} MiB", None, "", "<= 64 MiB", verdict(rss <= 64 * MIB))
        + f"  (c: {max(s['c'].rss_growth) / MIB:.1f} MiB)",
    ]


def s3_cpu_row(s: dict[str, Sample]) -> str:
    """Where (b)'s and (d)'s CPU went: the client, Redis (its fork writes the RDB) and the S3 server, all on this
    machine's cores, and the least wall time (d) can take here whatever the client does: the CPU it needs spread
    over every core, and no less than (a), the time the fork takes to write the RDB out when redis-cli, which
    costs it almost nothing, reads it. Above the target's time, (d) cannot meet it on this machine."""

    def parts(sample: Sample) -> tuple[float, float, float]:
        best = sample.seconds.index(sample.best)
        return sample.cpu[best], sample.server_cpu[best], sample.s3_cpu[best]

    b, d = parts(s["b"]), parts(s["d"])
    cores = os.cpu_count() or 1
    by_cpu, allowed = sum(d) / cores, 0.7 * s["b"].best
    floor, why = max((by_cpu, f"its CPU on {cores} cores"), (s["a"].best, "(a): the fork writes the RDB no faster"))
    return row(
        "",
        "    cpu s: client + Redis + S3 server",
        None,
        f"(d) {d[0]:.1f}+{d[1]:.1f}+{d[2]:.1f}",
        "",
        f"(b) {b[0]:.1f}+{b[1]:.1f}+{b[2]:.1f}; (d) needs >= {floor:.2f} s ({why}), the target allows {allowed:.2f} s"
        + ("" if floor < allowed else ": cannot be met here"),
    )


def parallel_rows(bench: Bench, nodes: list[RedisNode]) -> list[str]:
    """Issue 19: N node streams use up to N cores (N = 1, 2, 3, 6), and separate dump processes."""
    rows = []
    for n in (1, 2, 3, 6):
        theirs, ours = bench.parallel_streams(nodes[:n])
        ratio = ours.rate / theirs.rate
        rows += [
            row(f"{n} node(s) at once", f"    {n} x redis-cli --rdb at once", theirs, "", "", cpu_use(theirs)),
            row("", f"    our {n} streams in one process -> directory", ours, f"{ratio_text(ratio, 0.95)}x rate",
                ">= 0.95", verdict(ratio >= 0.95) + "  " + cpu_use(ours)),
            row("", "    if bound by CPU, ours over theirs:", None, f"{cpu_bound_ratio(theirs, ours):.2f}x rate"),
            row("", "    at best, redis-cli + SHA-256 + CRC-64:", None, f"{integrity_ceiling(theirs):.2f}x rate"),
        ]  # fmt: skip
    plain, summed, dumps = bench.separate_processes(nodes[:3])
    rows += separate_rows("3 nodes, 3 processes", plain, summed, dumps)
    return rows


def cpu_use(sample: Sample) -> str:
    """Where the fastest run's CPU went, per GB: the client (redis-cli, or our process) and the servers (their
    forks make the RDBs), and how many of the machine's cores both kept busy over its wall time. Near every core,
    the run is bound by CPU: its throughput then follows the CPU each byte costs, the client's share included."""
    best = sample.seconds.index(sample.best)
    gb = sample.size / 1e9
    client, server = sample.cpu[best], sample.server_cpu[best]
    busy = (client + server) / sample.best
    return f"cpu s/GB client {client / gb:.2f} + servers {server / gb:.2f}; {busy:.2f} of {os.cpu_count()} cores"


def cpu_bound_ratio(theirs: Sample, ours: Sample) -> float:
    """The rate ratio a run bound by CPU would show: every byte costs the servers' CPU plus the client's, on the
    same cores, so throughput goes as the inverse of the total CPU per byte. Beside the measured ratio, it tells
    a miss from CPU (they agree) from waiting or noise (they do not)."""

    def per_byte(sample: Sample) -> float:
        best = sample.seconds.index(sample.best)
        return (sample.cpu[best] + sample.server_cpu[best]) / sample.size

    return per_byte(theirs) / per_byte(ours)


@functools.cache
def integrity_cpu_per_byte() -> float:
    """CPU seconds per byte of the checks every stream makes (hashlib's SHA-256 and anycrc's CRC-64, as
    domain.rdb.RdbVerifier runs them), on this machine, best of 3 over 256 MiB in 1 MiB chunks."""
    chunk, chunks = os.urandom(1 << 20), 256
    crc = anycrc.Model("CRC64-REDIS")
    best = float("inf")
    for _ in range(3):
        started, sha, value = time.process_time(), hashlib.sha256(), 0
        for _ in range(chunks):
            sha.update(chunk)
            value = crc.calc(chunk, value)
        best = min(best, time.process_time() - started)
    return best / (chunks * len(chunk))


def integrity_ceiling(theirs: Sample) -> float:
    """The best rate ratio a client could reach when bound by CPU: redis-cli's own work plus the checks, nothing
    else (no event loop, no interpreter). Below 0.95, the checks alone cost more CPU than the target leaves."""
    best = theirs.seconds.index(theirs.best)
    per_byte = (theirs.cpu[best] + theirs.server_cpu[best]) / theirs.size
    return per_byte / (per_byte + integrity_cpu_per_byte())


# Issue 19: "Report our CPU seconds per GB (3.0 today) and halve it".
CPU_PER_GB_ISSUE = 3.0
CPU_PER_GB_TARGET = CPU_PER_GB_ISSUE / 2


def per_gb(sample: Sample) -> float:
    return min(sample.cpu) / (sample.size / 1e9)


def separate_rows(dataset: str, plain: Sample, summed: Sample, dumps: Sample) -> list[str]:
    to_plain, to_summed = dumps.best / plain.best, dumps.best / summed.best
    return [
        row(dataset, "    3 x redis-cli --rdb", plain, "", "", cpu_use(plain)),
        row("", "    3 x (redis-cli --rdb && sha256sum)", summed, "", "", cpu_use(summed)),
        row("", "    3 x redisbackup dump -> directory", dumps, f"{ratio_text(to_plain, 1.1)}x time", "<= 1.10",
            verdict(to_plain <= 1.1) + "  " + cpu_use(dumps)),
        row("", "", None, f"{ratio_text(to_summed, 0.9)}x time", "<= 0.90",
            verdict(to_summed <= 0.9) + " (vs && sha256sum)"),
        row("", "    if bound by CPU, ours over theirs:", None,
            f"{1 / cpu_bound_ratio(plain, dumps):.2f}x, {1 / cpu_bound_ratio(summed, dumps):.2f}x time"),
        cpu_row(plain, summed, dumps),
    ]  # fmt: skip


def cpu_row(plain: Sample, summed: Sample, dumps: Sample) -> str:
    """CPU seconds per GB of separate `redisbackup dump` processes (start-up, streaming, SHA-256 and CRC-64, the
    writes, exit: everything the processes spent), against the same nodes' `redis-cli --rdb` (no integrity) and
    `redis-cli --rdb && sha256sum` (the same integrity, as a shell script gives it) in the same run. The floor
    is redis-cli's CPU plus the checks' (SHA-256 and CRC-64 of the same bytes, in this process)."""
    ours, floor = per_gb(dumps), per_gb(plain) + integrity_cpu_per_byte() * 1e9
    return row("", "    CPU s/GB of the dump processes", None, f"{ours:.2f} cpu s/GB", f"<= {CPU_PER_GB_TARGET:.2f}",
               verdict(ours <= CPU_PER_GB_TARGET) + f" (issue: {CPU_PER_GB_ISSUE:.1f}; same run: redis-cli "
               f"{per_gb(plain):.2f}, && sha256sum {per_gb(summed):.2f}; floor redis-cli + checks "
               f"{floor:.2f})")  # fmt: skip


CHART_MEMORY_LIMIT = 512 * MIB  # charts/redisbackup/values.yaml resources.limits.memory


def budget_rows(bench: Bench, nodes: list[RedisNode]) -> list[str]:
    """Issue 19: 4 concurrent 16-shard backups (64 node streams, to S3) under the chart's default memory limit,
    with the budget the operator derives from it (half). The streams read the bench cluster's nodes in turn."""
    addresses = [f"{n.host}:{n.port}" for n in nodes]
    streams = [addresses[i % len(addresses)] for i in range(64)]
    result = probe(
        {"nodes": streams, "to": f"s3://{bench.bucket}/budget", "s3": bench.s3_options,
         "budget_mib": CHART_MEMORY_LIMIT // 2 // MIB, "streams": 16}
    )  # fmt: skip
    bench.clean_bucket()
    peak = result["peak_rss_kib"] * 1024
    return [
        row("64 streams (4 x 16 shards)", f"    peak RSS, budget {CHART_MEMORY_LIMIT // 2 // MIB} MiB -> S3", None,
            f"{peak / MIB:.0f} MiB", "<= 512 MiB",
            verdict(peak <= CHART_MEMORY_LIMIT) + f"  (budget used at most {result['budget_peak_bytes'] / MIB:.0f} MiB,"
            f" {result['seconds']:.1f} s)"),
    ]  # fmt: skip


def single_node_part(bench: Bench, base: Path) -> list[str]:
    """(a)-(e) on one standalone node: random 10 KB values, then many small keys."""
    table: list[str] = []
    with redis_nodes.running(redis_nodes.standalone(base, "bench")) as single:
        node = single.primary
        with node.client(socket_timeout=900) as client:  # DEBUG POPULATE of millions of keys takes a while
            if VALUES_MB:
                write_random(client, megabytes=VALUES_MB)
                label = f"{VALUES_MB * MIB // 10_000:,} x 10 KB random"
                table += report_single(label, bench.single_node(node))
                print("\n".join(table[-5:]), flush=True)  # partial results survive a later failure
                client.flushall()
            if SMALL_KEYS:
                client.execute_command("DEBUG", "POPULATE", SMALL_KEYS, "key", 100)
                table += report_single(f"{SMALL_KEYS:,} x 100 B keys", bench.single_node(node))
                print("\n".join(table[-5:]), flush=True)
                client.flushall()
    return table


@pytest.mark.timeout(4 * 3600)
def test_datapath_benchmark(bench: Bench, tmp_path_factory: pytest.TempPathFactory) -> None:
    lines = [f"machine before: {machine_state()}"]
    base = tmp_path_factory.mktemp("bench-redis")
    table: list[str] = []

    if "single" in PARTS:
        table += single_node_part(bench, base)

    if VALUES_MB and "cluster" in PARTS:
        with redis_nodes.running(redis_nodes.cluster(base, "benchc")) as cluster:
            with cluster.cluster_client() as client:
                write_random(client, megabytes=VALUES_MB)  # type: ignore[arg-type]
            redis_nodes.wait_cluster_gossip(cluster)
            together, alone = bench.redis_cli_scaling(cluster)
            machine = together.best / alone.best
            table += [
                row("3-shard cluster", "    redis-cli --rdb of the 3 shards at once", together),
                row("", "    redis-cli --rdb of the largest shard", alone, f"{machine:.2f}x", "", "(the machine)"),
            ]
            for to, where in ((f"file://{bench.work}/store", "directory"), (f"s3://{bench.bucket}/ours", "S3")):
                whole, largest = bench.cluster(cluster, to)
                # Issue 19: the whole cluster against the machine's own three redis-cli at once (to a directory:
                # what redis-cli writes to); the largest shard alone is shown, no longer a target (the issue
                # replaced it: a 2-core machine cannot stream three shards in the time of one, for anyone).
                against = whole.best / together.best
                table += [
                    row("", f"(f) cluster dump -> {where}", whole, f"{ratio_text(against, 1.1)}x 3 redis-cli",
                        *(("<= 1.10", verdict(against <= 1.1)) if where == "directory" else ())),
                    row("", f"    largest shard alone -> {where}", largest, f"{whole.best / largest.best:.2f}x"),
                ]  # fmt: skip

    if VALUES_MB and PARTS & {"parallel", "budget"}:
        with redis_nodes.running(redis_nodes.cluster(base, "benchp")) as nodes:
            with nodes.cluster_client() as client:
                write_random(client, megabytes=VALUES_MB)  # type: ignore[arg-type]
            redis_nodes.wait_replicas_in_sync(nodes, timeout=600)
            if "parallel" in PARTS:
                table += parallel_rows(bench, nodes.nodes)
            if "budget" in PARTS:
                table += budget_rows(bench, nodes.nodes)
            print("\n".join(table[-14:]), flush=True)

    lines.append(f"machine after:  {machine_state()}")
    lines.append("cpu s: CPU seconds of the client process(es) only: redis-cli (+ boto3), or redisbackup")
    measurement = f"measurement (best of {REPEAT})"
    header = f"{'data set':<26} {measurement:<44} {'seconds':>8} {'MiB/s':>8} {'cpu s':>7}  {'ratio':<14} {'target':<9}"
    print("\n\n" + "\n".join([header, "-" * len(header), *table, "", *lines]) + "\n")
    # Its rows are laid out already (value, ratio, target and verdict in columns): one figure per row.
    record("datapath", [(line.rstrip(),) for line in [header, *table]], machine_state())
    assert table, "set REDISBACKUP_BENCH_VALUES_MB or REDISBACKUP_BENCH_SMALL_KEYS"


CPU_NODES_MB = int(os.environ.get("REDISBACKUP_BENCH_CPU_MB", "200"))


@pytest.mark.timeout(3600)
def test_dump_cpu_per_gb(bench: Bench, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The issue's measurement alone (a quick, targeted run): three nodes of REDISBACKUP_BENCH_CPU_MB (200) of
    incompressible values, each dumped by its own `redisbackup dump` process at once, against three `redis-cli --rdb`
    and three `redis-cli --rdb && sha256sum`; wall time and CPU seconds per GB of the client processes.

        .venv/bin/pytest tests/bench/test_bench_datapath.py -k cpu_per_gb -s -p no:cacheprovider
    """
    before = machine_state()
    base = tmp_path_factory.mktemp("bench-cpu")
    topologies = [redis_nodes.standalone(base, f"cpu{i}") for i in range(3)]
    try:
        nodes = [topology.primary for topology in topologies]
        for node in nodes:
            with node.client(socket_timeout=900) as client:
                write_random(client, megabytes=CPU_NODES_MB)
        plain, summed, dumps = bench.separate_processes(nodes)
    finally:
        for topology in topologies:
            topology.stop()
    measurement = f"measurement (best of {REPEAT})"
    header = f"{'data set':<26} {measurement:<44} {'seconds':>8} {'MiB/s':>8} {'cpu s':>7}  {'ratio':<14} {'target':<9}"
    table = separate_rows(f"3 x {CPU_NODES_MB} MB, 3 processes", plain, summed, dumps)
    lines = [f"machine before: {before}", f"machine after:  {machine_state()}"]
    print("\n\n" + "\n".join([header, "-" * len(header), *table, "", *lines]) + "\n")
    record("dump CPU per GB", [(line.rstrip(),) for line in [header, *table]], machine_state())
    assert dumps.size > 3 * CPU_NODES_MB * MIB * 0.9, "the nodes held less data than asked: the figures mean nothing"
