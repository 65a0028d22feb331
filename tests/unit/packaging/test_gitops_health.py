"""What Flux (kstatus) and Argo CD (our Lua health check) say about a RedisBackup in each state the operator's
status transitions produce: in progress while creating, ready when available, failed (not "in progress for ever")
when failed (or found bad by its verification), and a finished backup whose deletionPolicy or verify was edited in
Git catches up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import pytest

from devstack.gitops import ARGOCD_HEALTH_LUA, Health, argocd_health, kstatus
from redisbackup.api.faults import FaultCode
from redisbackup.domain import status as transitions
from redisbackup.domain.conditions import merge
from redisbackup.domain.faults import StorageFault
from redisbackup.domain.resolution import SourceNotFound

NOW = dt.datetime(2026, 5, 15, 12, 0, tzinfo=dt.UTC)


def backup(status: dict[str, Any] | None = None, *, generation: int = 1, **metadata: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": "nightly", "namespace": "shop", "generation": generation, **metadata},
        "spec": {"snapshotName": "nightly", "cacheClusterId": "cache-1"},
    }
    if status is not None:
        body["status"] = status
    return body


def creating() -> dict[str, Any]:
    change = transitions.mark_creating(
        None,
        snapshot_name="nightly",
        source_field="spec.cacheClusterId",
        source_id="cache-1",
        storage="embedded",
        generation=1,
        now=NOW,
    )
    return merge({}, change.patch)


def waiting() -> dict[str, Any]:
    status = creating()
    fault = SourceNotFound("spec.cacheClusterId: no Pod or StatefulSet cache-1 in namespace shop", field="x")
    return merge(status, transitions.mark_waiting(status, fault, generation=1, now=NOW).patch)


def available(generation: int = 1) -> dict[str, Any]:
    status = creating()
    fields = {"size": "1.2 MiB", "numCacheNodes": 1, "location": "file:///var/lib/redisbackup/shop/nightly"}
    return merge(status, transitions.mark_available(status, fields, generation=generation, now=NOW).patch)


def failed() -> dict[str, Any]:
    status = creating()
    fault = StorageFault("bucket redis-snapshots does not exist", code=FaultCode.SNAPSHOT_FEATURE_NOT_SUPPORTED)
    return merge(status, transitions.mark_failed(status, fault, generation=1, now=NOW).patch)


VERDICTS: dict[str, tuple[str | None, str]] = {
    "Passed": (None, "verified 1 node"),
    "Failed": ("StoredObjectCorrupt", "verification of 1 node failed for 0001: the SHA-256 differs"),
    "Unknown": ("VerifierTooOld", "could not verify 1 node (no verdict for 0001): no local reader understands RDB 12"),
}


def verified(*, passed: bool | None, generation: int = 1) -> dict[str, Any]:
    """passed None: Unknown (no local reader understands the RDB)."""
    status = available()
    result: Literal["Passed", "Failed", "Unknown"] = "Unknown" if passed is None else "Passed" if passed else "Failed"
    reason, message = VERDICTS[result]
    change = transitions.mark_verified(
        status,
        {"result": result, "verifyTime": "2026-05-15T12:02:00Z"},
        result=result,
        reason=reason,
        message=message,
        generation=generation,
        now=NOW,
    )
    return merge(status, change.patch)


def deletion_blocked() -> dict[str, Any]:
    status = available()
    merge(
        status, transitions.mark_deleting(status, deletion_policy="Delete", location=None, generation=1, now=NOW).patch
    )
    fault = StorageFault("the S3 endpoint refuses connections")
    return merge(status, transitions.mark_deletion_blocked(status, fault, generation=1, now=NOW).patch)


CASES = [
    ("creating", backup(creating()), "InProgress", "Progressing"),
    ("waiting for its source", backup(waiting()), "InProgress", "Progressing"),
    ("available", backup(available()), "Current", "Healthy"),
    ("failed", backup(failed()), "Failed", "Degraded"),
    ("deleting", backup(available(), deletionTimestamp="2026-05-15T12:01:00Z"), "Terminating", "Progressing"),
    (
        "deletion blocked",
        backup(deletion_blocked(), deletionTimestamp="2026-05-15T12:01:00Z"),
        "Terminating",
        "Degraded",
    ),
    ("deletionPolicy edited, not yet observed", backup(available(), generation=2), "InProgress", "Progressing"),
    ("verified", backup(verified(passed=True)), "Current", "Healthy"),
    ("verification failed", backup(verified(passed=False)), "Failed", "Degraded"),
    ("no verdict: no reader for its RDB", backup(verified(passed=None)), "Current", "Healthy"),
]


@pytest.mark.parametrize(("state", "body", "flux", "argo"), CASES, ids=[c[0] for c in CASES])
def test_flux_and_argo_cd_agree_with_the_phase(state: str, body: dict[str, Any], flux: str, argo: str) -> None:
    assert kstatus(body).status == flux
    assert argocd_health(body).status == argo


def test_a_backup_the_operator_has_not_seen_yet_is_progressing_for_argo_cd() -> None:
    assert argocd_health(backup()) == Health("Progressing", "waiting for the operator to accept the RedisBackup")
    # kstatus cannot tell a custom resource without conditions from a finished one; see docs/gitops/README.md
    # for Flux's healthCheckExprs, which can.
    assert kstatus(backup()).status == "Current"


def test_failures_name_the_fault_for_both() -> None:
    body = backup(failed())
    assert "bucket redis-snapshots does not exist" in kstatus(body).message
    assert argocd_health(body).message.startswith("SnapshotFeatureNotSupportedFault: bucket redis-snapshots")


def test_an_edited_deletion_policy_is_observed_without_touching_the_phase_or_transition_times() -> None:
    status = available()
    before = {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}
    change = transitions.mark_observed(status, generation=2)
    assert change.notice is None
    merge(status, change.patch)
    assert status["phase"] == "available"
    assert status["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}
    assert {c["type"]: c["lastTransitionTime"] for c in status["conditions"]} == before
    assert kstatus(backup(status, generation=2)).status == "Current"
    assert argocd_health(backup(status, generation=2)).status == "Healthy"
    assert transitions.mark_observed(status, generation=2).empty, "observing twice writes nothing"


def test_a_snapshot_finishing_after_an_edit_does_not_take_the_observed_generation_back() -> None:
    status = creating()
    merge(status, transitions.mark_observed(status, generation=2).patch)
    fields = {"size": "1 KiB", "numCacheNodes": 1, "location": "file:///x"}
    merge(status, transitions.mark_available(status, fields, generation=1, now=NOW).patch)  # started at 1
    assert status["observedGeneration"] == 2
    assert kstatus(backup(status, generation=2)).status == "Current"


def test_the_argo_cd_snippet_in_the_docs_is_the_tested_script() -> None:
    docs = (ARGOCD_HEALTH_LUA.parent / "README.md").read_text()
    block = docs.split("resource.customizations.health.redisbackup.io_RedisBackup: |\n", 1)[1].split("```", 1)[0]
    embedded = "".join(line[4:] if line.strip() else "\n" for line in block.splitlines(keepends=True))
    assert embedded == ARGOCD_HEALTH_LUA.read_text()


def test_a_failed_verification_names_the_fault_for_both() -> None:
    body = backup(verified(passed=False))
    assert "the SHA-256 differs" in kstatus(body).message
    assert argocd_health(body).message.startswith("StoredObjectCorrupt: verification of 1 node failed")


def test_a_verification_asked_for_by_an_edit_records_the_new_generation() -> None:
    status = verified(passed=True, generation=2)  # spec.verify set on the available backup: generation 2
    assert status["observedGeneration"] == 2
    assert kstatus(backup(status, generation=2)).status == "Current"
    assert argocd_health(backup(status, generation=2)).status == "Healthy"


def test_a_verification_that_passes_after_a_failed_one_lifts_stalled() -> None:
    status = verified(passed=False)
    change = transitions.mark_verified(
        status, {"result": "Passed"}, result="Passed", reason=None, message="verified 1 node", generation=1, now=NOW
    )
    merge(status, change.patch)
    assert {c["type"]: c["status"] for c in status["conditions"]}["Stalled"] == "False"
    assert (kstatus(backup(status)).status, argocd_health(backup(status)).status) == ("Current", "Healthy")


def test_the_script_runs_in_argo_cds_runtime_without_the_standard_libraries(tmp_path: Path) -> None:
    """Argo CD runs a health script from argocd-cm without `string`, `io` or `math` (only package, base, table and a
    safe os): a script that used them would fail there, so the harness must refuse them too."""
    probe = tmp_path / "probe.lua"
    probe.write_text(
        "local missing = {}\n"
        'for _, name in ipairs({"string", "io", "math", "debug"}) do\n'
        "  if _G[name] ~= nil then table.insert(missing, name) end\n"
        "end\n"
        'return {status = #missing == 0 and "Healthy" or "Degraded", message = table.concat(missing, ",")}\n'
    )
    assert argocd_health(backup(), probe) == Health("Healthy", "")
    invalid = tmp_path / "invalid.lua"
    invalid.write_text('return {status = "Fine"}\n')
    assert argocd_health(backup(), invalid) == Health("Unknown", "Lua returned an invalid health status")
