"""The Kubernetes API client the operator's own calls use (kopf keeps its own connection for watching)."""

from __future__ import annotations

import functools

import kubernetes


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """A client for the current context: the Pod's service account in a cluster, else KUBECONFIG/~/.kube/config.

    Synchronous (the official client): call it through `asyncio.to_thread` from async handlers.
    """
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient()
