"""Reading the source of a RedisBackup from the API: the Pod or StatefulSet it names, or the Pods of a group.

Only `get` on the named objects and a `list` of the Pods a StatefulSet selects (or that carry the replication-group
label) in the RedisBackup's own namespace; the rules that turn them into a `ResolvedSource` live in
`redisbackup.domain.resolution`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from redisbackup.api.naming import resolved_identifier
from redisbackup.domain import resolution
from redisbackup.domain.resolution import REPLICATION_GROUP_LABEL, ResolvedSource
from redisbackup.k8s import api
from redisbackup.k8s.api import Client


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector object (matchLabels, matchExpressions) as the `labelSelector` query string."""
    terms = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


class SourceReader:
    """Synchronous reads (through `redisbackup.k8s.api`); `resolve_source` runs them on its thread pool."""

    def __init__(self, client: Client | None = None) -> None:
        self._client = client

    def namespace(self, name: str) -> dict[str, Any] | None:
        return api.call_or_none(f"read namespace {name}", api.core(self._client).read_namespace, name)

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        read = api.core(self._client).read_namespaced_pod
        return api.call_or_none(f"read Pod {name} in namespace {namespace}", read, name, namespace)

    def statefulset(self, namespace: str, name: str) -> dict[str, Any] | None:
        read = api.apps(self._client).read_namespaced_stateful_set
        return api.call_or_none(f"read StatefulSet {name} in namespace {namespace}", read, name, namespace)

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        listing = api.call(
            f"list the Pods {selector} in namespace {namespace}",
            api.core(self._client).list_namespaced_pod,
            namespace,
            label_selector=selector,
        )
        items: list[dict[str, Any]] = listing.get("items") or []
        return items

    def statefulset_pods(self, namespace: str, statefulset: Mapping[str, Any]) -> list[dict[str, Any]]:
        selector = label_selector((statefulset.get("spec") or {}).get("selector") or {})
        return self.pods(namespace, selector) if selector else []

    def single_node(self, namespace: str, source_id: str, spec_port: int | None) -> ResolvedSource:
        name = resolved_identifier(source_id)
        pod = self.pod(namespace, name)
        statefulset = self.statefulset(namespace, name) if pod is None else None
        owned = self.statefulset_pods(namespace, statefulset) if statefulset is not None else []
        return resolution.single_node(
            source_id, namespace, pod=pod, statefulset=statefulset, statefulset_pods=owned, spec_port=spec_port
        )

    def replication_group(self, namespace: str, source_id: str, spec_port: int | None) -> ResolvedSource:
        name = resolved_identifier(source_id)
        statefulset = self.statefulset(namespace, name)
        if statefulset is not None:
            pods = self.statefulset_pods(namespace, statefulset)
        else:
            values = sorted({name, source_id})  # a label keeps the case it was written in
            pods = self.pods(namespace, f"{REPLICATION_GROUP_LABEL} in ({','.join(values)})")
        return resolution.replication_group(
            source_id, namespace, statefulset=statefulset, pods=pods, spec_port=spec_port
        )


async def resolve_source(namespace: str, spec: Mapping[str, Any], client: Client | None = None) -> ResolvedSource:
    """The Pod(s) `spec` names, as decided by `redisbackup.domain.resolution` (raises its faults).

    `namespace` is the RedisBackup's; the Pods are looked for in spec.sourceNamespace when it names another one
    that agrees to it.
    """
    reader = SourceReader(client)
    port = spec.get("port")
    source_namespace = str(spec.get("sourceNamespace") or namespace)
    if source_namespace != namespace:
        resolution.check_shared(source_namespace, await api.in_thread(reader.namespace, source_namespace), namespace)
    if spec.get("replicationGroupId"):
        return await api.in_thread(reader.replication_group, source_namespace, str(spec["replicationGroupId"]), port)
    return await api.in_thread(reader.single_node, source_namespace, str(spec["cacheClusterId"]), port)
