"""The Kubernetes API client the operator's own calls use (kopf keeps its own connection for watching)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import kubernetes

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import ValidationFault

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_selected: dict[str, str | None] = {"kubeconfig": None, "context": None}


class KubeconfigInvalid(ValidationFault):
    """No usable kubeconfig and not inside a cluster: the command cannot reach any apiserver."""

    code = FaultCode.KUBERNETES_CONFIGURATION_INVALID


def select(kubeconfig: str | None = None, context: str | None = None) -> None:
    """Use this kubeconfig file and context (as kubectl's --kubeconfig/--context) instead of the defaults."""
    _selected.update(kubeconfig=kubeconfig, context=context)
    api_client.cache_clear()


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """A client for the current context: the Pod's service account in a cluster, else KUBECONFIG/~/.kube/config.

    Synchronous (the official client): every call goes through `redisbackup.k8s.api`.
    """
    kubeconfig, context = _selected["kubeconfig"], _selected["context"]
    if kubeconfig is None and context is None:
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
            return kubernetes.client.ApiClient()
        except kubernetes.config.ConfigException:
            pass
    try:
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
    except (kubernetes.config.ConfigException, OSError) as error:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubeconfigInvalid(
            f"cannot load the Kubernetes configuration from {where} ({error}), and this is not a Pod with a "
            "service account: set KUBECONFIG or --kubeconfig (and --context), as for kubectl"
        ) from None
    return kubernetes.client.ApiClient()


def current_namespace() -> str:
    """The namespace kubectl would use: the Pod's own in a cluster, else the kubeconfig context's, else default."""
    if _selected["kubeconfig"] is None and _selected["context"] is None and SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    try:
        _, active = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=_selected["kubeconfig"]
        )
    except (kubernetes.config.ConfigException, OSError):
        return "default"
    if _selected["context"] is not None:
        contexts, _ = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=_selected["kubeconfig"]
        )
        active = next((c for c in contexts if c.get("name") == _selected["context"]), active)
    return str((active or {}).get("context", {}).get("namespace") or "default")
