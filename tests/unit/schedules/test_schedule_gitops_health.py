"""What Flux (kstatus) and Argo CD (docs/gitops/argocd-health-schedule.lua) say about a RedisBackupSchedule in each
state the operator's status transitions (`domain.schedule_status`) produce."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from devstack.gitops import argocd_health, kstatus
from redisbackup.api.faults import FaultCode
from redisbackup.api.violations import Violation
from redisbackup.domain.schedule_status import FailedBackup, Observation, mark_invalid, mark_observed
from redisbackup.k8s.status import merge

SCRIPT = Path(__file__).resolve().parents[3] / "docs" / "gitops" / "argocd-health-schedule.lua"
NOW = dt.datetime(2026, 5, 15, 12, 0, tzinfo=dt.UTC)
NEXT = NOW + dt.timedelta(hours=1)


def schedule(status: dict[str, Any] | None = None, *, generation: int = 1, **metadata: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackupSchedule",
        "metadata": {"name": "nightly", "namespace": "shop", "generation": generation, **metadata},
        "spec": {"cacheClusterId": "cache-1", "schedule": "0 3 * * *", "keepLast": 7},
    }
    if status is not None:
        body["status"] = status
    return body


def observed(generation: int = 1, **seen: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "source": "cache-1",
        "schedule": "0 3 * * * UTC",
        "next_time": NEXT,
        "last_success": NOW,
        "active": None,
        "last_backup": "cachabc-202605150300",
        "kept": 1,
        **seen,
    }
    return merge({}, mark_observed(None, Observation(**fields), generation=generation, now=NOW).patch)


def invalid() -> dict[str, Any]:
    violation = Violation(FaultCode.INVALID_PARAMETER_VALUE, "spec.timeZone", "'Mars/Olympus' is not a time zone")
    return merge({}, mark_invalid(None, [violation], generation=1, now=NOW).patch)


FAILED = FailedBackup("cachabc-202605150300", "SnapshotFeatureNotSupportedFault", "bucket snapshots does not exist")
CASES = [
    ("runs", schedule(observed()), "Current", "Healthy"),
    ("suspended", schedule(observed(next_time=None, suspended=True)), "Current", "Suspended"),
    ("retention limit 0", schedule(observed(next_time=None, turned_off=True)), "Current", "Suspended"),
    ("newest backup failed", schedule(observed(newest_failed=FAILED)), "InProgress", "Degraded"),
    ("spec cannot be scheduled", schedule(invalid()), "Failed", "Degraded"),
    ("spec edited, not yet observed", schedule(observed(), generation=2), "InProgress", "Progressing"),
    ("being deleted", schedule(observed(), deletionTimestamp="2026-05-15T12:01:00Z"), "Terminating", "Progressing"),
]


@pytest.mark.parametrize(("state", "body", "flux", "argo"), CASES, ids=[c[0] for c in CASES])
def test_flux_and_argo_cd_read_the_schedules_conditions(state: str, body: dict[str, Any], flux: str, argo: str) -> None:
    assert kstatus(body).status == flux
    assert argocd_health(body, SCRIPT).status == argo


def test_argo_cd_says_why_with_the_fault_name_first_and_when_it_runs_next() -> None:
    assert argocd_health(schedule(observed()), SCRIPT).message == "Scheduled: next run at 2026-05-15T13:00:00Z"
    failed = argocd_health(schedule(observed(newest_failed=FAILED)), SCRIPT).message
    assert failed.startswith("SnapshotFeatureNotSupportedFault: the newest automated backup cachabc-202605150300")
    assert argocd_health(schedule(invalid()), SCRIPT).message.startswith("InvalidParameterValue: ")
    assert argocd_health(schedule(), SCRIPT).status == "Progressing", "not seen by the operator yet"


def test_the_argo_cd_snippet_in_the_docs_is_the_tested_script() -> None:
    docs = (SCRIPT.parent / "README.md").read_text()
    key = "resource.customizations.health.redisbackup.io_RedisBackupSchedule: |\n"
    block = docs.split(key, 1)[1].split("```", 1)[0]
    embedded = "".join(line[4:] if line.strip() else "\n" for line in block.splitlines(keepends=True))
    assert embedded == SCRIPT.read_text()
