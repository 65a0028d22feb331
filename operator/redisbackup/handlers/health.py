"""What the liveness probe checks (kopf serves it at the liveness endpoint, /healthz in the chart).

kopf answers the probe from its event loop, so a loop that still turns is all /healthz showed: an operator whose
Kubernetes client is wedged (every thread of its pool hung) kept passing it while no backup could make progress.
The probe now also asks whether that pool still runs anything (`k8s.api.PoolWatch`); when it has not for longer
than any call may take, the probe fails (HTTP 500) and the kubelet restarts the operator.
"""

from __future__ import annotations

from typing import Any

import kopf

from redisbackup.k8s.api import PoolWatch

PROBE_ID = "kubernetes-client"


def register(registry: kopf.OperatorRegistry, watch: PoolWatch) -> None:
    @kopf.on.probe(id=PROBE_ID, registry=registry)
    async def kubernetes_client(**_: Any) -> str:
        stuck = watch.stuck()
        if stuck is not None:
            # Permanent: kopf would otherwise retry the probe inside the same HTTP request.
            raise kopf.PermanentError(
                f"the Kubernetes client's thread pool has run nothing for {stuck:.0f}s (longer than "
                f"{watch.patience:g}s): every thread is stuck; restart the operator"
            )
        return "ok"
