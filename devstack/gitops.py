"""How GitOps tools judge a RedisBackup's health, by their own code, for tests: kstatus (Flux, kpt, cli-utils) and
Argo CD's Lua health check.

- `kstatus` runs sigs.k8s.io/cli-utils/pkg/kstatus/status `Compute`, the library Flux's kustomize-controller and
  helm-controller use for `wait` and `healthChecks`, in a small Go program (devstack/gitopshealth/kstatus).
- `argocd_health` runs docs/gitops/argocd-health.lua in gopher-lua, the Lua runtime Argo CD embeds, set up as
  Argo CD sets it up for a `resource.customizations.health.*` script (devstack/gitopshealth/argocd-health): the
  object as the global `obj`, no standard libraries but package, base, table and a safe os, one second to run,
  the returned table's `status` (one of Argo CD's health codes) and `message`.

Both are built once by devstack.binaries (`make controlplane`; on first use otherwise) and take many objects per
call (`kstatus_all`, `argocd_health_all`), since a test often judges a whole sequence of states.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import binaries

REPO = Path(__file__).resolve().parents[1]
ARGOCD_HEALTH_LUA = REPO / "docs" / "gitops" / "argocd-health.lua"


@dataclass(frozen=True)
class Health:
    status: str
    message: str


class HealthCheckError(RuntimeError):
    """The tool could not judge the object (kstatus refuses a malformed object; a Lua error)."""


def _run(program: str, args: Sequence[str], objects: Sequence[Mapping[str, Any]]) -> list[Health]:
    result = subprocess.run(
        [str(binaries.tool(program)), *args],
        input=json.dumps(list(objects), default=str),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise HealthCheckError(f"{program} exited with {result.returncode}: {result.stderr.strip()}")
    verdicts: list[dict[str, str]] = json.loads(result.stdout)
    health = []
    for verdict in verdicts:
        if "error" in verdict:
            raise HealthCheckError(f"{program}: {verdict['error']}")
        health.append(Health(verdict.get("status", ""), verdict.get("message", "")))
    return health


def kstatus_all(objects: Sequence[Mapping[str, Any]]) -> list[Health]:
    return _run("kstatus", (), objects)


def kstatus(obj: Mapping[str, Any]) -> Health:
    (health,) = kstatus_all([obj])
    return health


def argocd_health_all(objects: Sequence[Mapping[str, Any]], script: Path = ARGOCD_HEALTH_LUA) -> list[Health]:
    return _run("argocd-health", (str(script),), objects)


def argocd_health(obj: Mapping[str, Any], script: Path = ARGOCD_HEALTH_LUA) -> Health:
    (health,) = argocd_health_all([obj], script)
    return health
