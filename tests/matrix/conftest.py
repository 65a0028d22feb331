"""The version matrix: every Redis and Valkey release of devstack.versions, and what redisbackup does on each.

A test declares the operations it exercises (``@pytest.mark.matrix("dump node", "verify")``) and, through the
`matrix` fixture, marks each one passed as soon as it has shown it (with facts such as the RDB version seen);
whatever it declared and had not shown when it failed is recorded failed. With REDISBACKUP_MATRIX_RESULTS set
(`make matrix` sets docs/compatibility.json) the outcomes are written there at the end of the session, for the
README's compatibility table (devstack.compat).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import compat

_STATE = pytest.StashKey["MatrixRecorder"]()


class MatrixRecorder:
    """What one test showed: operations passed (with facts), and cross-version restore outcomes."""

    def __init__(self, release: str | None) -> None:
        self.release = release
        self.passed_operations: dict[str, dict[str, Any]] = {}
        self.restores: list[tuple[str, str, str]] = []
        self.pairs: list[tuple[str, str]] = []  # declared cross-version restores: failed unless an outcome comes

    def passed(self, operation: str, **facts: Any) -> None:
        assert operation in compat.OPERATIONS, operation
        self.passed_operations[operation] = facts

    def restore_pair(self, source: str, target: str) -> None:
        """This test restores a snapshot of `source` into `target`."""
        self.pairs.append((source, target))

    def restore(self, source: str, target: str, outcome: str) -> None:
        """What happened: compat.LOADS or compat.REFUSED (as the rule said, and as the server showed)."""
        self.restores.append((source, target, outcome))


class MatrixSession:
    def __init__(self) -> None:
        self.operations: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.restores: dict[tuple[str, str], str] = {}

    def add(self, release: str, operation: str, outcome: str, facts: dict[str, Any]) -> None:
        previous = self.operations.get((release, operation))
        if previous is not None and previous[0] == compat.FAILED:
            outcome = compat.FAILED
        merged = {**(previous[1] if previous else {}), **facts}
        for key, value in facts.items():  # lists (e.g. verifiedBy) accumulate over tests
            if isinstance(value, list) and previous and isinstance(previous[1].get(key), list):
                merged[key] = sorted(set(previous[1][key]) | set(value))
        self.operations[(release, operation)] = (outcome, merged)

    def write(self, path: Path) -> None:
        with compat.updating(path) as data:
            for (release, operation), (outcome, facts) in sorted(self.operations.items()):
                compat.record_operation(data, release, operation, outcome, **facts)
            for (source, target), outcome in sorted(self.restores.items()):
                compat.record_restore(data, source, target, outcome)


_SESSION = MatrixSession()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "matrix(*operations): the version-matrix operations a test exercises")


@pytest.fixture
def matrix(request: pytest.FixtureRequest) -> Iterator[MatrixRecorder]:
    callspec = getattr(request.node, "callspec", None)
    release = callspec.params.get("redis_release") if callspec is not None else None
    recorder = MatrixRecorder(release)
    request.node.stash[_STATE] = recorder
    return recorder


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" or (report.when == "setup" and report.failed):  # type: ignore[attr-defined]
        _collect(item, failed=bool(report.failed))  # type: ignore[attr-defined]
    return report


def _collect(item: pytest.Item, *, failed: bool) -> None:
    marker = item.get_closest_marker("matrix")
    recorder = item.stash.get(_STATE, None)
    if recorder is None:
        return
    for source, target, outcome in recorder.restores:
        _SESSION.restores[(source, target)] = outcome
    shown = {(source, target) for source, target, _ in recorder.restores}
    for pair in recorder.pairs:
        if pair not in shown and failed:
            _SESSION.restores[pair] = compat.FAILED
    if recorder.release is None or marker is None:
        return
    for operation in marker.args:
        shown = recorder.passed_operations.get(operation)
        if shown is not None:
            _SESSION.add(recorder.release, operation, compat.PASSED, shown)
        elif failed:
            _SESSION.add(recorder.release, operation, compat.FAILED, {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(compat.RESULTS_ENV)
    if target and (_SESSION.operations or _SESSION.restores):
        _SESSION.write(Path(target))
