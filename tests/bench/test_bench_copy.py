"""Benchmark of copy-snapshot inside one S3 endpoint (`make bench`): S3's own copy vs streaming through us.

    REDISBACKUP_BENCH_COPY_MB=1024 make bench       # the issue's 1 GiB (the default)

(a) the copy streamed through the operator (what it does across endpoints: read, verify every byte, upload)
(b) the same copy made by S3 (CopyObject/UploadPartCopy) and checked against the manifest (size, signature,
    CRC-64 trailer). Target: (b) >= 5x faster than (a). Best of REPEAT (default 2), interleaved. Each path's CPU
    seconds are shown too: the S3 server's (/proc/<pid>/stat) and this process's (getrusage), as wall time on a
    shared 2-core machine follows them.

Measured here (2 cores shared with other engineers' runs; `nice -n 5 pytest tests/bench/test_bench_copy.py -s`):

    load (1 min)   (a) wall   (b) wall   speedup   CPU (a): server + ours   CPU (b): server + ours
    1.1 -> 6.7      23.99 s     7.81 s    3.1x       (CPU not measured)
    5.2 -> 10.1     26.84 s     8.81 s    3.0x      13.83 + 2.80 s           6.99 + 0.05 s   (2.4x less)
    (an earlier run, on a quieter machine: 3.9x)

Why not 5x on this machine: SeaweedFS (the devstack's, 7506e5f9 of 2026-11-09) has no copy by reference. Its
CopyObject (s3api_object_handlers_copy.go: copyChunks, 4 chunks at a time) re-reads every 4 MiB chunk from the
volume server and POSTs it, multipart-encoded, to a newly assigned file id, where the volume server reads it into
a growing buffer, CRC-32s and pwrites it; only a copy onto its own key is metadata-only. A CPU profile (pprof) of
a 1 GiB CopyObject: about half in the volume server's upload handler (socket reads, buffer growth and zeroing,
pwrite, CRC), the rest in the volume server's reads and the gateway's pipe between them — 5.2-7 CPU seconds per
GiB, all data movement, against 13-14 s of the server's plus 3 s of ours when streamed. With the server on the
same 2 cores as us, the wall ratio stays near that CPU ratio (2.4-3.2x), a little above where the streamed path
waits on round trips. What was tried, the server's CPU seconds for 1 GiB (scratch runs beside this bench, load 4-11):

    CopyObject (what copy_from does up to 5 GiB)                      5.1-6.5 s
    UploadPartCopy, 64 MiB parts x4 at once                           8.3-9.9 s   each part spanning several chunks
                                                                                  is read a second time by SeaweedFS
                                                                                  for its MD5 (copiedRangeMd5)
    UploadPartCopy, 8 MiB parts x4/x8 (-filer.maxMB=8: one chunk each) 6.8-7.7 s  128 requests' overhead; wall
                                                                   8-18 s vs CopyObject's 6-13 s, 3 rounds each
    CopyObject with -filer.maxMB=16 / 64 (bigger chunks)              5.2-5.8 / 5.1-5.7 s: no gain, not kept
    the check after the copy (two ranged GETs of 9 and 8 bytes)       0.01 s, 10 ms wall

so CopyObject stays, the server keeps its default chunk size, and the streamed baseline is unchanged. On AWS S3
the copy runs on S3's side, off the operator's cores, and the ratio is not bounded this way.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass

import pytest

from devstack.fixtures.s3 import S3Bucket
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.storage.s3 import S3Settings, S3Store
from redisbackup.workflows import copy as copy_workflow
from tests.bench.cpu import process_cpu_seconds, rusage_cpu_seconds
from tests.bench.summary import record, verdict
from tests.bench.test_bench_datapath import machine_state
from tests.e2e.test_copy_in_s3 import rdb, stored_snapshot

pytestmark = pytest.mark.slow

COPY_MB = int(os.environ.get("REDISBACKUP_BENCH_COPY_MB", "1024"))
REPEAT = int(os.environ.get("REDISBACKUP_BENCH_REPEAT", "2"))


@dataclass(frozen=True)
class Run:
    """One timed copy: wall seconds, and the CPU seconds it cost the S3 server and this (the operator's) process."""

    wall: float
    server_cpu: float
    operator_cpu: float

    @property
    def cpu(self) -> float:
        return self.server_cpu + self.operator_cpu


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda run: run.wall)


async def timed_copy(s3: S3Bucket, original: Manifest, *, in_s3: bool) -> Run:
    source = S3Store(S3Settings(**s3.settings(prefix="team")))  # type: ignore[arg-type]
    target = S3Store(S3Settings(**s3.settings(prefix="archive")))  # type: ignore[arg-type]
    saved = copy_workflow.copy_in_s3
    if not in_s3:

        async def never(*_: object) -> bool:
            return False

        copy_workflow.copy_in_s3 = never  # type: ignore[assignment]
    try:
        server, ours, started = process_cpu_seconds(s3.server.process.pid), rusage_cpu_seconds(), time.perf_counter()
        await copy_workflow.copy_snapshot(source, original, target, SnapshotLocation("team", "copy", uuid.uuid4().hex))
        wall = time.perf_counter() - started
        return Run(wall, process_cpu_seconds(s3.server.process.pid) - server, rusage_cpu_seconds() - ours)
    finally:
        copy_workflow.copy_in_s3 = saved
        await target.delete_prefix("team")
        await source.close()
        await target.close()


@pytest.mark.timeout(3600)
def test_server_side_copy(s3: S3Bucket) -> None:
    before = machine_state()
    size = COPY_MB << 20

    async def run() -> tuple[list[Run], list[Run]]:
        source = S3Store(S3Settings(**s3.settings(prefix="team")))  # type: ignore[arg-type]
        original = await stored_snapshot(source, rdb(size))
        await source.close()
        streamed, in_s3 = [], []
        for _ in range(REPEAT):
            streamed.append(await timed_copy(s3, original, in_s3=False))
            in_s3.append(await timed_copy(s3, original, in_s3=True))
        return streamed, in_s3

    runs = asyncio.run(run())
    streamed, in_s3 = best(runs[0]), best(runs[1])
    speedup = streamed.wall / in_s3.wall
    cpu_ratio = streamed.cpu / in_s3.cpu
    lines = [
        f"copy-snapshot of {COPY_MB} MiB in one S3 endpoint (best of {REPEAT})     wall s   CPU s: server + ours",
        f"(a) streamed through the operator (read, verify, upload)  {streamed.wall:7.2f}   "
        f"{streamed.server_cpu:6.2f} + {streamed.operator_cpu:5.2f}",
        f"(b) copied by S3 (CopyObject/UploadPartCopy) + checked    {in_s3.wall:7.2f}   "
        f"{in_s3.server_cpu:6.2f} + {in_s3.operator_cpu:5.2f}   {speedup:.1f}x faster   "
        f"target >= 5x   {'met' if speedup >= 5 else 'MISSED'}",
        f"CPU: (b) costs {cpu_ratio:.1f}x less than (a); where S3 shares the operator's cores, wall time follows CPU",
        f"machine before: {before}",
        f"machine after:  {machine_state()}",
    ]
    print("\n\n" + "\n".join(lines) + "\n")
    figures = [
        (
            f"copy-snapshot of {COPY_MB} MiB in one S3 endpoint",
            f"{in_s3.wall:.2f} s ({speedup:.1f}x faster)",
            f"{streamed.wall:.2f} s streamed",
            ">= 5x faster",
            verdict(speedup >= 5),
        ),
        (
            "  its CPU (S3 server + operator)",
            f"{in_s3.server_cpu:.2f} + {in_s3.operator_cpu:.2f} s ({cpu_ratio:.1f}x less)",
            f"{streamed.server_cpu:.2f} + {streamed.operator_cpu:.2f} s",
        ),
    ]
    record("server-side copy", figures, machine_state())
