"""Shared steps of the RedisBackupSchedule e2e tests: apply schedules, read their backups, and a faster clock.

They act in a `tests.e2e.operator_support.Scene` (the test's namespace and the operator serving it).

The operator's schedules can run on a clock that goes `rate` times as fast as the wall clock from `since` on
(REDISBACKUP_CLOCK, redisbackup.workflows.clock): at rate 60, "*/5 * * * *" runs every five real seconds, and a
restarted operator (same environment) resumes the same timeline. `Timeline` gives the test the same clock.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client

from devstack.fixtures.operator import RunningOperator
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, Scene, events_of, get

SCHEDULES = "redisbackupschedules"
LABEL = "redisbackup.io/schedule"
SCHEDULED_AT = "redisbackup.io/scheduled-at"


@dataclass(frozen=True)
class Timeline:
    """The clock the operator's schedules run on: `rate` times the wall clock from `since`."""

    rate: float
    since: dt.datetime

    @classmethod
    def starting_now(cls, rate: float) -> Timeline:
        """From the last whole minute of the wall clock: at rate 60 the schedule's hours then begin at the wall
        clock's minutes, its 10 minutes at its 10 seconds."""
        return cls(rate, dt.datetime.now(dt.UTC).replace(second=0, microsecond=0))

    def env(self) -> dict[str, str]:
        return {"REDISBACKUP_CLOCK": f"rate={self.rate:g},since={self.since:%Y-%m-%dT%H:%M:%SZ}"}

    def now(self) -> dt.datetime:
        return self.since + (dt.datetime.now(dt.UTC) - self.since) * self.rate

    def seconds_to_next(self, period: dt.timedelta) -> float:
        """Wall-clock seconds until this timeline next crosses a multiple of `period` (from its hour, as cron does)."""
        now = self.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        passed = (now - hour) % period
        return float((period - passed).total_seconds() / self.rate)


def apply_schedule(scene: Scene, name: str, **spec: Any) -> None:
    """`kubectl apply` a RedisBackupSchedule, as users do."""
    document = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RedisBackupSchedule", "metadata": {"name": name}}
    scene.kubectl("apply", "-f", "-", input=yaml.safe_dump({**document, "spec": spec}))


def get_schedule(scene: Scene, name: str) -> dict[str, Any] | None:
    return get(scene.api, scene.namespace, name, plural=SCHEDULES)


def suspend(scene: Scene, name: str, suspended: bool = True) -> None:
    """Set the schedule's spec.suspend, as `kubectl patch` does."""
    scene.kubectl("patch", "rbs", name, "--type=merge", "-p", json.dumps({"spec": {"suspend": suspended}}))


def automated(scene: Scene, schedule: str) -> list[dict[str, Any]]:
    """The schedule's RedisBackups (by label), oldest slot first."""
    listing: Any = client.CustomObjectsApi(scene.api).list_namespaced_custom_object(
        GROUP, VERSION, scene.namespace, PLURAL, label_selector=f"{LABEL}={schedule}"
    )
    items: list[dict[str, Any]] = listing["items"]
    return sorted(items, key=lambda b: b["metadata"]["annotations"][SCHEDULED_AT])


def slots(backups: list[dict[str, Any]]) -> list[dt.datetime]:
    return [
        dt.datetime.fromisoformat(b["metadata"]["annotations"][SCHEDULED_AT].replace("Z", "+00:00")) for b in backups
    ]


def phases(backups: list[dict[str, Any]]) -> list[str | None]:
    return [(b.get("status") or {}).get("phase") for b in backups]


def wait_until(
    check: Callable[[], Any], *, what: str, timeout: float = 90.0, operator: RunningOperator | None = None
) -> Any:
    """Poll `check` until it returns something truthy; fail with the operator's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.25)
    log = f"\noperator log:\n{operator.log_tail(80)}" if operator is not None else ""
    raise AssertionError(f"never {what} in {timeout:.0f}s{log}")


def schedule_events(scene: Scene, name: str) -> list[tuple[str, str]]:
    """(reason, message) of the Events about schedule `name`, oldest first."""
    return events_of(scene.api, scene.namespace, name, kind="RedisBackupSchedule")


def event_messages(scene: Scene, name: str, reason: str) -> list[str]:
    """The messages of the schedule's Events with that reason, oldest first."""
    return [message for found, message in schedule_events(scene, name) if found == reason]
