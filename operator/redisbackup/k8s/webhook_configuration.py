"""The ValidatingWebhookConfiguration that sends RedisBackup creates and updates to our webhook.

We write it ourselves instead of using kopf's `settings.admission.managed`: kopf fixes `timeoutSeconds` at 30
(the maximum; a hung webhook would hold every `kubectl apply` that long) and cannot set `matchConditions` or a
`namespaceSelector`. The configuration is rewritten whenever the webhook's address or CA bundle changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.k8s.client import api_client

logger = logging.getLogger(__name__)

WEBHOOK_NAME = f"vredisbackup.{GROUP}"

# Only calls that can break a rule: a create, or an update that touches the spec. Metadata-only updates (labels,
# finalizers: the operator's own deletion path) never wait for the webhook, so they work while it is down.
MATCH_CONDITIONS = [
    {
        "name": "create-or-spec-change",
        "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec",
    }
]


def build_configuration(
    name: str,
    client_config: dict[str, Any],
    *,
    timeout_seconds: int = 5,
    namespaces: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole ValidatingWebhookConfiguration object (admissionregistration.k8s.io/v1)."""
    webhook: dict[str, Any] = {
        "name": WEBHOOK_NAME,
        "admissionReviewVersions": ["v1"],
        "clientConfig": client_config,
        "rules": [
            {
                "apiGroups": [GROUP],
                "apiVersions": [VERSION],
                "resources": [PLURAL],
                "operations": ["CREATE", "UPDATE"],
                "scope": "Namespaced",
            }
        ],
        "failurePolicy": "Fail",  # a backup the webhook has not seen must not slip in while it is down
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "matchPolicy": "Equivalent",
        "matchConditions": MATCH_CONDITIONS,
    }
    if namespaces:
        # An operator watching some namespaces judges only those (another instance may own the rest).
        webhook["namespaceSelector"] = {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(namespaces)}]
        }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "redisbackup", "app.kubernetes.io/component": "webhook"},
        },
        "webhooks": [webhook],
    }


def _merged_metadata(ours: dict[str, Any], current: Any) -> dict[str, Any]:
    """Our metadata over the existing object's: labels and annotations others set stay (the Helm chart creates the
    object and owns it by its labels and annotations; `kubectl apply` keeps its last-applied one there)."""
    if current is None:
        return dict(ours)
    return {
        **ours,
        "labels": {**(current.labels or {}), **(ours.get("labels") or {})},
        "annotations": {**(current.annotations or {}), **(ours.get("annotations") or {})},
        "resourceVersion": current.resource_version,
    }


def apply_configuration(configuration: dict[str, Any], client: kubernetes.client.ApiClient | None = None) -> None:
    """Create the configuration, or replace the existing one (retrying when someone else changed it meanwhile)."""
    api = kubernetes.client.AdmissionregistrationV1Api(client or api_client())
    name = configuration["metadata"]["name"]
    body: Any = configuration  # the client serialises plain dicts as they are
    for _attempt in range(5):
        try:
            current = api.read_validating_webhook_configuration(name)
        except ApiException as error:
            if error.status != 404:
                raise
            try:
                api.create_validating_webhook_configuration(body)
            except ApiException as create_error:
                if create_error.status == 409:  # created concurrently: replace it on the next attempt
                    continue
                raise
            logger.info("Created the ValidatingWebhookConfiguration %s.", name)
            return
        body = {**configuration, "metadata": _merged_metadata(configuration["metadata"], current.metadata)}
        try:
            api.replace_validating_webhook_configuration(name, body)
        except ApiException as error:
            if error.status == 409:
                continue
            raise
        logger.info("Updated the ValidatingWebhookConfiguration %s.", name)
        return
    raise RuntimeError(f"could not write the ValidatingWebhookConfiguration {name}: it kept changing under us")


async def publish(configuration: dict[str, Any], client: kubernetes.client.ApiClient | None = None) -> None:
    await asyncio.to_thread(apply_configuration, configuration, client)
