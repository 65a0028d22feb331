"""Shared steps of the RedisBackupSchedule e2e tests: apply schedules, read their backups, and a faster clock.

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

from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator
from tests.e2e.operator_support import GROUP, PLURAL, VERSION

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


def apply_schedule(kube: Cluster, namespace: str, name: str, **spec: Any) -> None:
    document = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RedisBackupSchedule", "metadata": {"name": name}}
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump({**document, "spec": spec}))


def get_schedule(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, SCHEDULES, name
        )  # type: ignore[assignment]
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return body


def automated(api: client.ApiClient, namespace: str, schedule: str) -> list[dict[str, Any]]:
    """The schedule's RedisBackups (by label), oldest slot first."""
    listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, label_selector=f"{LABEL}={schedule}"
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


def schedule_events(api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str]]:
    listing = client.CoreV1Api(api).list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name},involvedObject.kind=RedisBackupSchedule"
    )
    ordered = sorted(listing.items, key=lambda e: (e.first_timestamp or e.event_time or 0, e.metadata.name))
    return [(event.reason, event.message) for event in ordered]


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [c for c in (body.get("status") or {}).get("conditions") or [] if c["type"] == kind]
    assert found, f"no {kind} condition in {json.dumps(body.get('status'))}"
    return found[0]
