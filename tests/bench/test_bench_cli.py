"""Benchmark of the CLI's start-up (`make bench`; not part of `make test`): target <= 0.2 s per command.

    --help               the top-level help: no command module beyond the table in cli/commands.py
    validate FILE        a one-document manifest checked with the webhook's rules (pydantic, no Kubernetes client)
    describe-snapshots   against the real apiserver: a namespace of three RedisBackups (no operator runs, so they are
                         `creating`), so the run builds the models that print them, as a user's would

Each command runs REDISBACKUP_BENCH_CLI_RUNS times (default 15), interleaved with the baselines, and the fastest
run counts (the machine is shared; the minimum is the least disturbed). The runs start once the machine has settled
(less than 0.3 of a core busy over a second, waiting at most 90 s): the bench's control plane has just started.
Baselines from the same run: the bare interpreter (`python -c pass`); the libraries every checking command loads —
argparse, PyYAML, pydantic and one small model built and used (`LIBRARIES`): what validate and describe-snapshots
cannot go below while the rules are pydantic models; and `import kubernetes` alone: the official client's own
import, which describe-snapshots does not pay (it runs on redisbackup.k8s.rest). Nothing asserts a time; the table
says met or missed.

Figures (best of 10, `REDISBACKUP_BENCH_CLI_RUNS=10 pytest tests/bench/test_bench_cli.py -s`) on the 2-core machine
while other engineers' builds ran (load 3.3-4.2), before → after issue 19's lazy imports, same bench back to back:
validate 0.285 → 0.252 s, describe-snapshots (three RedisBackups) 0.389 → 0.315 s, --help 0.060 → 0.057 s, with
the floor above at 0.224-0.247 s in those runs: validate is at its libraries' floor, and at such a load neither
meets 0.2 s while its rules are pydantic models.

The floor is not the machine's load: counted in instructions, which load does not change (valgrind's callgrind,
`valgrind --tool=callgrind python ARGS`, 2026-12-07), `python -c pass` runs 39 M, `--help` 138 M, the floor
(argparse, yaml, pydantic, one model) 667 M, and `validate FILE` 728 M: 9 % above the floor. On this machine
--help's 0.057 s and `pass`'s ~0.02 s put an instruction at ~0.37 ns, so the floor alone is ~0.25 s. pydantic's
plugin loader imports importlib.metadata even with plugins off (69 M of the 667 M); without it the floor would still
be ~0.22 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.cluster import Cluster
from tests.bench.cpu import wait_until_quiet
from tests.bench.summary import record, verdict
from tests.bench.test_bench_datapath import installed_env, machine_state

pytestmark = pytest.mark.slow

RUNS = int(os.environ.get("REDISBACKUP_BENCH_CLI_RUNS", "15"))
TARGET = 0.2
MANIFEST = """\
apiVersion: redisbackup.io/v1alpha1
kind: RedisBackup
metadata: {name: nightly, namespace: default}
spec: {snapshotName: nightly, cacheClusterId: cache-001}
"""
DESCRIBED = 3
# The floor of a checking command: its libraries, and one pydantic model built and used (plugins off, as the CLI).
LIBRARIES = """\
import argparse, json, os
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
import yaml
from pydantic import BaseModel, Field
class Spec(BaseModel):
    name: str = Field(min_length=1, max_length=20, pattern="^[A-Za-z]")
Spec.model_validate(yaml.safe_load("name: nightly"))
"""
FLOOR = "python+yaml+pydantic, a model (baseline)"


def best_of(argv: list[str], env: dict[str, str], results: dict[str, list[float]], label: str) -> None:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    results.setdefault(label, []).append(time.perf_counter() - started)
    assert done.returncode == 0, f"{label}: exit {done.returncode}: {done.stderr[-2000:]}"


@pytest.mark.timeout(1800)
def test_cli_startup(kube: Cluster, redisbackup_crd: str, namespace: str, tmp_path: Path) -> None:
    manifest = tmp_path / "backup.yaml"
    manifest.write_text(MANIFEST)
    command = [sys.executable, "-m", "redisbackup.cli.main"]
    env = {**installed_env(), "KUBECONFIG": str(kube.kubeconfig)}
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        FLOOR: [sys.executable, "-c", LIBRARIES],
        "python -c 'import kubernetes' (baseline)": [sys.executable, "-c", "import kubernetes"],
        "redisbackup --help": [*command, "--help"],
        "redisbackup validate FILE": [*command, "validate", str(manifest)],
        "redisbackup describe-snapshots": [*command, "describe-snapshots", "-n", namespace],
    }
    # A CRD just created can answer 503 "storage is (re)initializing" for a moment: wait until it serves lists.
    deadline = time.monotonic() + 60
    while subprocess.run(cases["redisbackup describe-snapshots"], env=env, capture_output=True, check=False).returncode:
        assert time.monotonic() < deadline, "the apiserver never served RedisBackups"
        time.sleep(0.5)
    backups = "---\n".join(
        MANIFEST.replace("nightly", f"nightly-{n}").replace("namespace: default", f"namespace: {namespace}")
        for n in range(DESCRIBED)
    )
    kube.kubectl("apply", "-f", "-", input=backups)
    described = subprocess.run(cases["redisbackup describe-snapshots"], env=env, capture_output=True, check=True)
    assert len(json.loads(described.stdout)["Snapshots"]) == DESCRIBED
    # The control plane was started for this bench a moment ago: against an absolute target, measure once it has
    # settled (its caches synced), not while it takes a core away from the interpreter.
    quiet = wait_until_quiet()
    before = machine_state()
    results: dict[str, list[float]] = {}
    for label, argv in cases.items():  # warm the bytecode caches first
        best_of(argv, env, {}, label)
    for _ in range(RUNS):
        for label, argv in cases.items():
            best_of(argv, env, results, label)
    lines = [f"{'CLI start-up (best of ' + str(RUNS) + ')':<46} {'seconds':>8}  {'target':<8} verdict"]
    for label, times in results.items():
        best = min(times)
        if "(baseline)" in label:
            lines.append(f"{label:<46} {best:8.3f}")
        else:
            lines.append(f"{label:<46} {best:8.3f}  <= {TARGET:<5} {'met' if best <= TARGET else 'MISSED'}")
    lines += [
        f"machine before: {before}; {quiet:.2f} cores busy in the second before the runs",
        f"machine after:  {machine_state()}",
    ]
    print("\n\n" + "\n".join(lines) + "\n")
    bare = f"{min(results['python -c pass (baseline)']):.3f} s (python -c pass)"
    floor = f"{min(results[FLOOR]):.3f} s (python + argparse, yaml, pydantic, a model)"
    figures = [
        (
            label,
            f"{min(times):.3f} s",
            bare if "--help" in label else floor,
            f"<= {TARGET} s",
            verdict(min(times) <= TARGET),
        )
        for label, times in results.items()
        if "(baseline)" not in label
    ]
    record("CLI start-up", figures, machine_state())
