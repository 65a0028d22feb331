"""The test harness starts the operator again on new ports when a port it picked was taken before the bind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack import operator
from devstack.processes import StartupError

LOST_RACE = "OSError: [Errno 98] error while attempting to bind on address: address already in use"


class FakeProcess:
    """Stands in for the operator's process: the first `taken` starts fail as a lost port race does."""

    started: list[FakeProcess] = []
    taken = 1
    failure = LOST_RACE

    def __init__(self, name: str, argv: list[str], **_: Any) -> None:
        self.name, self.argv, self.stopped = name, argv, False
        FakeProcess.started.append(self)

    def wait_ready(self, _check: Any, timeout: float = 60.0, what: str = "ready") -> None:
        if len(FakeProcess.started) <= FakeProcess.taken:
            raise StartupError(f"{self.name} exited with 1 before it was {what}; last lines:\n{FakeProcess.failure}")

    def stop(self) -> None:
        self.stopped = True


class FakeKube:
    kubeconfig = Path("/nonexistent/kubeconfig")


@pytest.fixture(autouse=True)
def fake_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeProcess, "started", [])
    monkeypatch.setattr(FakeProcess, "taken", 1)
    monkeypatch.setattr(FakeProcess, "failure", LOST_RACE)
    monkeypatch.setattr(operator, "Process", FakeProcess)


def start(tmp_path: Path) -> operator.RunningOperator:
    return operator.start(FakeKube(), tmp_path, namespaces=["ns"], webhook=False)  # type: ignore[arg-type]


def test_a_lost_port_race_starts_the_operator_again_on_new_ports(tmp_path: Path) -> None:
    running = start(tmp_path)
    first, second = FakeProcess.started
    assert first.stopped
    assert not second.stopped
    assert running.process is second  # type: ignore[comparison-overlap]
    assert first.argv != second.argv  # another webhook port, another configuration file
    assert len(list(tmp_path.glob("operator-ns-*.yaml"))) == 2


def test_the_last_attempt_is_raised(tmp_path: Path) -> None:
    FakeProcess.taken = operator.START_ATTEMPTS
    with pytest.raises(StartupError, match="address already in use"):
        start(tmp_path)
    assert len(FakeProcess.started) == operator.START_ATTEMPTS
    assert all(p.stopped for p in FakeProcess.started)


def test_any_other_start_failure_is_raised_at_once(tmp_path: Path) -> None:
    FakeProcess.failure = "kopf: the CRD is not installed"
    with pytest.raises(StartupError, match="CRD is not installed"):
        start(tmp_path)
    assert len(FakeProcess.started) == 1
