"""The Secret that holds the webhook's CA, shared by every operator Pod (the chart makes it empty; the first Pod
fills it). With one CA for all, a new Pod's certificate is trusted by the apiserver before the Pod even starts
serving: a rollout, or a second replica, never refuses RedisBackups for a certificate the apiserver does not know.

The operator needs `get` and `patch` on this one Secret (the chart's RBAC names it); a patch carries the
resourceVersion it read, so two Pods that fill or rotate it at the same moment cannot overwrite each other: the
loser reads the winner's CA and uses that.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from redisbackup.k8s import api
from redisbackup.k8s.api import Client


@dataclass(frozen=True)
class StoredSecret:
    data: dict[str, str]
    """Decoded values; empty for the chart's empty Secret."""
    resource_version: str


def read_ca_secret(namespace: str, name: str, client: Client | None = None) -> StoredSecret | None:
    """The Secret's decoded data and version; None when it does not exist."""
    body = api.call_or_none(
        f"read the webhook CA Secret {name} in namespace {namespace}",
        api.core(client).read_namespaced_secret,
        name,
        namespace,
    )
    if body is None:
        return None
    data = {key: base64.b64decode(value).decode() for key, value in (body.get("data") or {}).items()}
    return StoredSecret(data, str(body["metadata"]["resourceVersion"]))


def write_ca_secret(
    namespace: str, name: str, data: dict[str, str], resource_version: str, client: Client | None = None
) -> None:
    """Replace the Secret's data, if it is still at `resource_version` (UpdateConflict otherwise)."""
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    patch = {"metadata": {"resourceVersion": resource_version}, "data": encoded}
    api.call(
        f"write the webhook CA into Secret {name} in namespace {namespace}",
        api.core(client).patch_namespaced_secret,
        name,
        namespace,
        patch,
    )
