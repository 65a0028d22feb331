"""kopf wiring only: which function handles what, and the operator's settings. No logic lives here.

`redisbackup operator` (redisbackup.cli.run_operator) builds `OperatorOptions` from flags and environment and
calls `run`. Reconciliation handlers are added to `build_registry` next to the webhook, one line each.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.handlers import admission
from redisbackup.k8s.webhook_server import AdmissionServer, WebhookOptions


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty: the whole cluster."""
    peering: str | None = None
    """kopf peering object name (several replicas, one active); None: standalone."""
    priority: int = 0
    liveness_endpoint: str | None = None
    webhook: WebhookOptions | None = None
    """None: no admission webhook (the CRD's schema and CEL rules still apply)."""
    verbose: bool = False
    debug: bool = False


def build_registry(options: OperatorOptions) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # An explicit registry has none of kopf's implicit login handlers: log in as the kubernetes client does
    # (the Pod's ServiceAccount in a cluster, else KUBECONFIG), the same credentials redisbackup.k8s uses.
    kopf.on.login(registry=registry, id="login")(kopf.login_via_client)
    if options.webhook is not None:
        kopf.on.validate(
            GROUP,
            VERSION,
            PLURAL,
            id=admission.HANDLER_ID,
            operations=["CREATE", "UPDATE"],
            persistent=True,
            side_effects=False,
            ignore_failures=False,
            registry=registry,
        )(admission.validate_redisbackup)
    return registry


def configure(settings: kopf.OperatorSettings, options: OperatorOptions) -> None:
    if options.webhook is not None:
        settings.admission.server = AdmissionServer(options.webhook, handler_id=admission.HANDLER_ID)
        settings.admission.managed = None  # we write the ValidatingWebhookConfiguration ourselves (see k8s/)


def run(options: OperatorOptions) -> None:
    kopf.configure(verbose=options.verbose, debug=options.debug)
    logging.getLogger("redisbackup").setLevel(logging.DEBUG if options.debug else logging.INFO)
    settings = kopf.OperatorSettings()
    configure(settings, options)
    asyncio.run(
        kopf.operator(
            registry=build_registry(options),
            settings=settings,
            standalone=options.peering is None,
            peering_name=options.peering,
            priority=options.priority,
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            liveness_endpoint=options.liveness_endpoint,
        )
    )
