"""Publishing a server's CA bundle in a ConfigMap, so clients can trust a certificate the server made itself.

    kubectl get configmap -n redisbackup redisbackup-elasticache-ca -o jsonpath='{.data.ca\\.crt}' > ca.crt
    export AWS_CA_BUNDLE=$PWD/ca.crt

Written with server-side apply: one request creates or updates it, and only the field we own changes.
"""

from __future__ import annotations

from typing import Any

from redisbackup.k8s import api
from redisbackup.k8s.api import Client

APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "redisbackup-serve"
KEY = "ca.crt"


def publish_ca_bundle(namespace: str, name: str, bundle: bytes, client: Client | None = None) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "redisbackup"}},
        "data": {KEY: bundle.decode()},
    }
    return api.call(
        f"publish the CA bundle in ConfigMap {name} of namespace {namespace}",
        api.core(client).patch_namespaced_config_map,
        name,
        namespace,
        body,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type=APPLY_PATCH,
    )
