"""Bounded waits for tests: poll a condition until it holds, or fail saying what never happened.

No test asserts on timing; it only bounds how long it waits for an outcome (machines here are shared and slow).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Return the first truthy result of `check()`; raise AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or getattr(check, '__name__', 'condition')} did not happen in {timeout:.0f}s")
        time.sleep(interval)
