"""Fault suite plumbing: the outcome table printed at the end of the session."""

from __future__ import annotations

import pytest

from tests.fault.table import ROWS, render


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ROWS:
        terminalreporter.section("fault suite outcomes")
        terminalreporter.write_line(render(ROWS))
