"""Kubernetes Events about a RedisBackup: posting one (the CLI's verification; the operator's own work outside kopf's
handlers, k8s.status.post_with_kopf), and listing them as a caller (the console's details page)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from redisbackup.domain.conditions import Notice
from redisbackup.k8s import api
from redisbackup.k8s.api import Client

log = logging.getLogger(__name__)

COMPONENT = "redisbackup-cli"
OPERATOR_COMPONENT = "redisbackup-operator"  # as kopf posts the operator's (main.configure)


def post_event(
    body: Mapping[str, Any],
    notice: Notice,
    client: Client | None = None,
    *,
    component: str = COMPONENT,
    instance: str | None = None,
) -> None:
    """Best effort: an Event is a courtesy, never a reason for a command to fail."""
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    now = dt.datetime.now(dt.UTC)
    event: dict[str, Any] = {
        "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": body.get("apiVersion"),
            "kind": body.get("kind"),
            "name": name,
            "namespace": namespace,
            "uid": metadata.get("uid"),
        },
        "type": notice.type,
        "reason": notice.reason,
        "message": notice.message[:1024],
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": 1,
    }
    if instance:
        event["source"]["host"] = instance
        event["reportingInstance"] = instance
    try:
        api.call(f"post an Event about {name}", api.core(client).create_namespaced_event, namespace, event)
    except Exception:
        log.warning("could not post event %s about %s/%s", notice.reason, namespace, name, exc_info=True)


def list_events(namespace: str, uid: str, client: Client | None = None) -> list[dict[str, Any]]:
    """The Events about the object with `uid` in `namespace`, oldest first (AccessDenied when the caller may not
    list Events there)."""
    listing = api.call(
        f"list the Events of namespace {namespace}",
        api.core(client).list_namespaced_event,
        namespace,
        field_selector=f"involvedObject.uid={uid}",
    )
    items: list[dict[str, Any]] = listing.get("items") or []
    return sorted(items, key=event_order)


def event_order(event: Mapping[str, Any]) -> tuple[str, int]:
    """Oldest first: by the time of the Event's last occurrence, which the apiserver keeps to the second, then by
    its resourceVersion (etcd's revision, which grows with every write) for Events posted within one second."""
    stamp = str(event.get("lastTimestamp") or event.get("eventTime") or "")
    version = str((event.get("metadata") or {}).get("resourceVersion") or "")
    return stamp, int(version) if version.isdigit() else 0
