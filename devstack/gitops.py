"""How GitOps tools judge a RedisBackup's health, for tests: kstatus (Flux, kpt, cli-utils) and Argo CD's Lua check.

`kstatus` ports the rules of sigs.k8s.io/cli-utils/pkg/kstatus/status `Compute` that apply to a custom resource
(there is no Python kstatus): in order,

1. metadata.deletionTimestamp set → Terminating;
2. status.observedGeneration present and != metadata.generation → InProgress (LatestGenerationNotObserved);
3. a condition Reconciling=True → InProgress; Stalled=True → Failed (the first of them in list order wins);
4. (no built-in rules for custom resources) a Ready condition: True → Current, False or Unknown → InProgress;
5. otherwise Current.

Flux's kustomize-controller and helm-controller compute health with these rules (`wait`, `healthChecks`).

`argocd_health` runs docs/gitops/argocd-health.lua as Argo CD does: the object as the global `obj`, the returned
table's `status` and `message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lupa

REPO = Path(__file__).resolve().parents[1]
ARGOCD_HEALTH_LUA = REPO / "docs" / "gitops" / "argocd-health.lua"


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def kstatus(obj: Mapping[str, Any]) -> Health:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return Health("Terminating", "Resource scheduled for deletion")
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        kind = obj.get("kind", "")
        return Health("InProgress", f"{kind} generation is {generation}, but latest observed generation is {observed}")
    conditions = status.get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "Reconciling" and condition.get("status") == "True":
            return Health("InProgress", str(condition.get("message", "")))
        if condition.get("type") == "Stalled" and condition.get("status") == "True":
            return Health("Failed", str(condition.get("message", "")))
    for condition in conditions:
        if condition.get("type") != "Ready":
            continue
        if condition.get("status") == "True":
            return Health("Current", "Resource is Ready")
        if condition.get("status") in ("False", "Unknown"):
            return Health("InProgress", str(condition.get("message", "")))
    return Health("Current", "Resource is current")


def argocd_health(obj: Mapping[str, Any], script: Path = ARGOCD_HEALTH_LUA) -> Health:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(dict(obj), recursive=True)
    result = lua.execute(script.read_text())
    return Health(str(result["status"]), str(result["message"] or ""))
