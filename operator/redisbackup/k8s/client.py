"""The Kubernetes API client the operator's own calls use (kopf keeps its own connection for watching).

`api_client()` is the official client; `cli_client()` is what a short CLI command uses: the REST client of
`redisbackup.k8s.rest` (custom objects only; it starts in milliseconds where the official client's import takes
about a second), or the official one when the kubeconfig needs what only that one reads.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import kubeconfig as kubeconfig_reader
from redisbackup.k8s.rest import RestClient

if TYPE_CHECKING:
    import kubernetes

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_selected: dict[str, str | None] = {"kubeconfig": None, "context": None}


class KubeconfigInvalid(ValidationFault):
    """No usable kubeconfig and not inside a cluster: the command cannot reach any apiserver."""

    code = FaultCode.KUBERNETES_CONFIGURATION_INVALID


def select(kubeconfig: str | None = None, context: str | None = None) -> None:
    """Use this kubeconfig file and context (as kubectl's --kubeconfig/--context) instead of the defaults."""
    _selected.update(kubeconfig=kubeconfig, context=context)
    api_client.cache_clear()
    cli_client.cache_clear()


def _invalid(error: object) -> KubeconfigInvalid:
    where = _selected["kubeconfig"] or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return KubeconfigInvalid(
        f"cannot load the Kubernetes configuration from {where} ({error}), and this is not a Pod with a "
        "service account: set KUBECONFIG or --kubeconfig (and --context), as for kubectl"
    )


@functools.cache
def cli_client() -> RestClient | kubernetes.client.ApiClient:
    """A client for the current context for a CLI command that only reads and writes custom objects: the REST
    client, or the official one when the kubeconfig uses what only that reads (a proxy, an auth-provider)."""
    try:
        return RestClient(kubeconfig_reader.load(_selected["kubeconfig"], _selected["context"]))
    except kubeconfig_reader.Unsupported:
        return api_client()
    except kubeconfig_reader.ConfigError as error:
        raise _invalid(error) from None


@functools.cache
def api_client() -> kubernetes.client.ApiClient:
    """A client for the current context: the Pod's service account in a cluster, else KUBECONFIG/~/.kube/config.

    Synchronous (the official client): every call goes through `redisbackup.k8s.api`.
    """
    import kubernetes

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
        raise _invalid(error) from None
    return kubernetes.client.ApiClient()


def current_namespace() -> str:
    """The namespace kubectl would use: the Pod's own in a cluster, else the kubeconfig context's, else default."""
    if _selected["kubeconfig"] is None and _selected["context"] is None and SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    return kubeconfig_reader.current_namespace(_selected["kubeconfig"], _selected["context"])
