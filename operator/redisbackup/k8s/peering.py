"""Reading kopf's peering objects (the chart's KopfPeering or ClusterKopfPeering), for domain.peering."""

from __future__ import annotations

from typing import Any

from redisbackup.k8s import api

GROUP, VERSION = "kopf.dev", "v1"


def read_peers(name: str, namespace: str | None) -> dict[str, Any]:
    """The peers (`status`) of peering object `name` in `namespace` (None: the cluster-wide one); none if absent."""
    custom: Any = api.custom()  # the official client's (the REST client's twin has no cluster-scoped get)
    if namespace is None:
        found = api.call_or_none(
            f"read ClusterKopfPeering {name}",
            custom.get_cluster_custom_object,
            GROUP,
            VERSION,
            "clusterkopfpeerings",
            name,
        )
    else:
        found = api.call_or_none(
            f"read KopfPeering {name} in namespace {namespace}",
            custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "kopfpeerings",
            name,
        )
    status = (found or {}).get("status")
    return status if isinstance(status, dict) else {}
