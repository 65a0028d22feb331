"""The ValidatingWebhookConfiguration that sends RedisBackup and RedisBackupSchedule creates and updates to our webhook.

We write it ourselves instead of using kopf's `settings.admission.managed`: kopf fixes `timeoutSeconds` at 30
(the maximum; a hung webhook would hold every `kubectl apply` that long) and cannot set `matchConditions` or a
`namespaceSelector`. The configuration is rewritten whenever the webhook's address or CA bundle changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL, SCHEDULE_PLURAL
from redisbackup.k8s import api
from redisbackup.k8s.api import Client
from redisbackup.k8s.faults import AlreadyExists, ObjectNotFound, UpdateConflict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Webhook:
    """One webhook of the configuration: its name, the resource it judges, and the path (kopf's handler id)."""

    name: str
    resource: str
    handler_id: str


BACKUP_WEBHOOK = Webhook(f"vredisbackup.{GROUP}", PLURAL, "validate-redisbackup")
SCHEDULE_WEBHOOK = Webhook(f"vredisbackupschedule.{GROUP}", SCHEDULE_PLURAL, "validate-redisbackupschedule")
WEBHOOKS = (BACKUP_WEBHOOK, SCHEDULE_WEBHOOK)
WEBHOOK_NAME = BACKUP_WEBHOOK.name

# Only calls that can break a rule: a create, or an update that touches the spec. Metadata-only updates (labels,
# finalizers: the operator's own deletion path) never wait for the webhook, so they work while it is down.
MATCH_CONDITIONS = [
    {
        "name": "create-or-spec-change",
        "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec",
    }
]


def for_handler(client_config: Mapping[str, Any], handler_id: str) -> dict[str, Any]:
    """The same client config, pointed at another handler (the last part of the URL or service path)."""
    config = dict(client_config)
    if "url" in config:
        config["url"] = f"{str(config['url']).rsplit('/', 1)[0]}/{handler_id}"
    if "service" in config:
        config["service"] = {**config["service"], "path": f"/{handler_id}"}
    return config


def build_configuration(
    name: str,
    client_config: dict[str, Any],
    *,
    timeout_seconds: int = 10,
    namespaces: Sequence[str] = (),
) -> dict[str, Any]:
    """The whole ValidatingWebhookConfiguration object (admissionregistration.k8s.io/v1): one webhook per resource,
    each reached at `client_config` with its own handler's path."""
    webhooks = []
    for entry in WEBHOOKS:
        webhook: dict[str, Any] = {
            "name": entry.name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": for_handler(client_config, entry.handler_id),
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "apiVersions": [VERSION],
                    "resources": [entry.resource],
                    "operations": ["CREATE", "UPDATE"],
                    "scope": "Namespaced",
                }
            ],
            "failurePolicy": "Fail",  # an object the webhook has not seen must not slip in while it is down
            "sideEffects": "None",
            "timeoutSeconds": timeout_seconds,
            "matchPolicy": "Equivalent",
            "matchConditions": MATCH_CONDITIONS,
        }
        if namespaces:
            # An operator watching some namespaces judges only those (another instance may own the rest).
            webhook["namespaceSelector"] = {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(namespaces)}
                ]
            }
        webhooks.append(webhook)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/name": "redisbackup", "app.kubernetes.io/component": "webhook"},
        },
        "webhooks": webhooks,
    }


def _merged_metadata(ours: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Our metadata over the existing object's: labels and annotations others set stay (the Helm chart creates the
    object and owns it by its labels and annotations; `kubectl apply` keeps its last-applied one there)."""
    return {
        **ours,
        "labels": {**(current.get("labels") or {}), **(ours.get("labels") or {})},
        "annotations": {**(current.get("annotations") or {}), **(ours.get("annotations") or {})},
        "resourceVersion": current.get("resourceVersion"),
    }


def apply_configuration(configuration: dict[str, Any], client: Client | None = None) -> None:
    """Create the configuration, or replace the existing one (retrying when someone else changed it meanwhile)."""
    admission = api.admissionregistration(client)
    name = configuration["metadata"]["name"]
    for _attempt in range(5):
        current = api.call_or_none(
            f"read the ValidatingWebhookConfiguration {name}", admission.read_validating_webhook_configuration, name
        )
        if current is None:
            try:
                api.call(
                    f"create the ValidatingWebhookConfiguration {name}",
                    admission.create_validating_webhook_configuration,
                    configuration,
                )
            except AlreadyExists:
                continue  # created concurrently: replace it on the next attempt
            logger.info("Created the ValidatingWebhookConfiguration %s.", name)
            return
        metadata = _merged_metadata(configuration["metadata"], current.get("metadata") or {})
        try:
            api.call(
                f"replace the ValidatingWebhookConfiguration {name}",
                admission.replace_validating_webhook_configuration,
                name,
                {**configuration, "metadata": metadata},
            )
        except (UpdateConflict, ObjectNotFound):
            continue  # changed or deleted since we read it: look again
        logger.info("Updated the ValidatingWebhookConfiguration %s.", name)
        return
    raise RuntimeError(f"could not write the ValidatingWebhookConfiguration {name}: it kept changing under us")


async def publish(configuration: dict[str, Any], client: Client | None = None) -> None:
    await api.in_admission_thread(apply_configuration, configuration, client)
