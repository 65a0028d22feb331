"""What `redisbackup operator` imports before it starts: the restart of an operator is its import time plus its
first listing (tests/bench/test_bench_scale.py), so the libraries only some work needs come when that work first
runs, not at the start."""

from __future__ import annotations

import subprocess
import sys

# boto3/botocore: only once an S3 storage location is first used (storage.pool, workflows.copy); the ElastiCache
# query API (botocore's models) and the console: only when they are served (`redisbackup serve`).
NOT_AT_THE_START = {"boto3", "botocore", "redisbackup.storage.s3", "redisbackup.queryapi", "redisbackup.console"}


def test_the_operator_starts_without_the_storage_and_api_clients_it_does_not_use_yet() -> None:
    probe = (
        "import sys\n"
        "from redisbackup.cli.main import build_parser\n"
        "from redisbackup import main\n"
        "options = main.OperatorOptions(webhook=None)\n"
        "main.build_registry(options)\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.partition("MODULES ")[2].split())
    assert {"kopf", "redisbackup.handlers.backups"} <= loaded, "the probe imports the operator"
    early = {m for m in loaded for p in NOT_AT_THE_START if m == p or m.startswith(p + ".")}
    assert early == set(), "imported at the operator's start"


def test_the_first_listing_begins_before_kopf_and_the_kubernetes_client_are_imported() -> None:
    """`redisbackup operator` starts fetching the first listing (k8s.prefetch) in `handle`: what comes before it must
    not import the heavy libraries, or the listing would wait for them again."""
    probe = (
        "import sys\n"
        "from redisbackup.cli.main import build_parser\n"
        "build_parser('operator').parse_args(['operator', '--namespace', 'team'])\n"
        "from redisbackup.k8s import prefetch\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.partition("MODULES ")[2].split())
    assert "redisbackup.cli.run_operator" in loaded
    heavy = {m for m in loaded for p in ("kopf", "kubernetes", "aiohttp", "cryptography") if m.split(".")[0] == p}
    assert heavy == set(), "imported before the first listing begins"
