"""Benchmark plumbing: every figure the benches record (tests/bench/summary.py) is printed in one table at the end of
`make bench`, with the machine's load."""

from __future__ import annotations

import pytest

from tests.bench.summary import FIGURES, LOADS, machine, render


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("benchmark figures (every bench, one table)")
        terminalreporter.write_line(render(FIGURES))
        for load in LOADS:
            terminalreporter.write_line(f"machine during {load}")
        terminalreporter.write_line(f"machine at the end: {machine()}")
