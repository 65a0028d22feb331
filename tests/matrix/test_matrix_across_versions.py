"""Restoring across versions, every pair of releases: what the rule says, and what the real servers do.

For each (snapshot of A, target B): `redisbackup restore --engine B --engine-version b` either restores — and then
B's server loads every key — or refuses before the data directory is touched, naming both versions; and then B's
server, given the same RDB by hand, must refuse it too. So the rule (redisbackup.domain.engines, encoded once) is
checked against every real pair, both ways.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack import compat, datasets, redis_nodes
from devstack.fixtures.redis import RedisFactory
from devstack.processes import StartupError, install_cleanup_handlers
from devstack.versions import IDS, Release, release
from tests.e2e.restore_support import redisbackup
from tests.matrix.conftest import MatrixRecorder
from tests.matrix.support import dump, snapshot_url, tools_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Snapshot:
    url: str
    rdb: Path
    baseline: dict[int, dict[bytes, Any]]
    slack: int
    written_by: str  # "redis 6.0.16", as the server said


class Snapshots:
    """One snapshot per release, taken on first use (a node of that release, the baseline, `redisbackup dump`)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.factory = RedisFactory(base / "servers")
        self._taken: dict[str, Snapshot] = {}

    def of(self, source: Release) -> Snapshot:
        if source.id not in self._taken:
            topology = self.factory.standalone(release=source)
            node = topology.primary
            with node.client() as client:
                datasets.seed_baseline(client, databases=(2,), big=False)
                slack = datasets.slack(client)
                written_by = " ".join(datasets.server_version(client))
            root = f"file://{self.base}/store"
            manifest = dump(node, root, f"of-{source.id}".replace(".", "-"))
            self._taken[source.id] = Snapshot(
                snapshot_url(root, manifest),
                self.base / "store" / manifest["nodeSnapshots"][0]["objectKey"],
                datasets.every_database(node),
                slack,
                written_by,
            )
            topology.stop()
        return self._taken[source.id]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    install_cleanup_handlers()
    taken = Snapshots(tmp_path_factory.mktemp("across"))
    yield taken
    taken.factory.stop()


def loads(rdb: Path, target: Release, base: Path) -> bool:
    """Does a server of `target` start from this RDB (given by hand, no redisbackup involved)?"""
    try:
        node = redis_nodes.from_rdb(base, rdb, "by-hand", release=target)
    except StartupError:
        return False
    node.stop()
    return True


@pytest.mark.parametrize(("source_id", "target_id"), list(itertools.product(IDS, IDS)))
def test_a_snapshot_restores_into_every_version_that_reads_it_and_is_refused_by_the_others(
    snapshots: Snapshots,
    redis_factory: RedisFactory,
    matrix: MatrixRecorder,
    tmp_path: Path,
    source_id: str,
    target_id: str,
) -> None:
    source, target = release(source_id).ensure(), release(target_id).ensure()
    matrix.restore_pair(source.id, target.id)
    snapshot = snapshots.of(source)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "lost+found").mkdir()  # an empty volume, as a PersistentVolume's ext4 root is

    result = redisbackup(
        "restore", "--from", snapshot.url, "--to-dir", str(data_dir),
        "--engine", target.engine, "--engine-version", target.reported_version(),
        env=tools_env(),
    )  # fmt: skip

    if result.returncode == 0:
        restored = redis_factory.from_rdb(data_dir / "dump.rdb", release=target)
        with restored.client() as client:
            slack = max(snapshot.slack, datasets.slack(client))
        assert datasets.differences(datasets.every_database(restored), snapshot.baseline, slack_ms=slack) == []
        matrix.restore(source.id, target.id, compat.LOADS)
    else:
        assert "RestoreTargetIncompatible: " in result.stderr, result.stderr
        assert snapshot.written_by in result.stderr
        assert f"{target.engine} {target.reported_version()}" in result.stderr
        assert sorted(p.name for p in data_dir.iterdir()) == ["lost+found"], "refused before anything changed"
        assert not loads(snapshot.rdb, target, tmp_path / "by-hand"), f"{target} loads it: the rule is wrong"
        matrix.restore(source.id, target.id, compat.REFUSED)
