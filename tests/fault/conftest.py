"""Fault suite plumbing: every scenario is `slow` (run by `make faults`) unless marked `smoke` (also in
`make test`), and the outcome table is printed at the end of the session."""

from __future__ import annotations

import os

import pytest

from tests.fault.table import ROWS, render


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(__file__.rsplit("/", 1)[0]) and item.get_closest_marker("smoke") is None:
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("fault suite outcomes")
        terminalreporter.write_line(render(ROWS))
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        terminalreporter.write_line(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
