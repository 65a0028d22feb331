"""What the console asks Kubernetes, always as the visitor: the namespaces they may look at, their Redis
workloads (through the core's DescribeCacheClusters and DescribeReplicationGroups), and the RedisBackups they can
see — every namespace at once when RBAC allows it, else namespace by namespace, skipping those it forbids."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redisbackup.console.rows import RedisRow, redis_rows
from redisbackup.console.visitors import Visitor
from redisbackup.elasticache.caller import Caller
from redisbackup.elasticache.workloads import describe_cache_clusters, describe_replication_groups
from redisbackup.k8s import api, redisbackups
from redisbackup.k8s.faults import AccessDenied


def _namespace_names(visitor: Visitor) -> list[str]:
    listing = api.call("list namespaces", api.core(visitor.client).list_namespace)
    return sorted(str(item["metadata"]["name"]) for item in listing.get("items") or [])


NAMESPACES_TTL = 30.0
_namespaces: dict[str, tuple[float, list[str] | None]] = {}


async def _listed_namespaces(visitor: Visitor) -> list[str] | None:
    """Every namespace, when the visitor may list them (None when not); remembered for half a minute per
    user, so that paging and filtering cost no extra call."""
    now, key = time.monotonic(), visitor.user
    cached = _namespaces.get(key)
    if cached is not None and now - cached[0] < NAMESPACES_TTL:
        return cached[1]
    try:
        names: list[str] | None = await api.in_thread(_namespace_names, visitor)
    except AccessDenied:
        names = None
    if len(_namespaces) > 1000:
        _namespaces.clear()
    _namespaces[key] = (now, names)
    return names


async def namespaces(visitor: Visitor, default: str, *extra: str | None) -> tuple[list[str], bool]:
    """The namespaces to offer, and whether the visitor may list them all (else: their own, the default, and
    whatever they typed)."""
    names = await _listed_namespaces(visitor)
    if names is not None:
        return names, True
    known = [visitor.home_namespace, default, *extra]
    return sorted({name for name in known if name}), False


async def _all_pages(call: Callable[[str | None], Awaitable[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page = await call(marker)
        found += page.get(key) or []
        marker = page.get("Marker")
        if not marker:
            return found


async def redis_of(caller: Caller) -> list[RedisRow]:
    """The rows of the Redis page: the core's documents, every page of them."""
    clusters = await _all_pages(
        lambda marker: describe_cache_clusters(caller, max_records=100, marker=marker), "CacheClusters"
    )
    groups = await _all_pages(
        lambda marker: describe_replication_groups(caller, max_records=100, marker=marker), "ReplicationGroups"
    )
    return redis_rows(clusters, groups)


@dataclass(frozen=True)
class VisibleBackups:
    bodies: list[dict[str, Any]]
    scope: tuple[str, ...] | None
    """The namespaces listed one by one; None: every namespace at once."""
    refused: tuple[str, ...] = ()
    """Namespaces whose RedisBackups RBAC does not let the visitor list."""


async def visible_backups(visitor: Visitor, namespace: str | None, candidates: list[str]) -> VisibleBackups:
    """Every RedisBackup the visitor may see (of `namespace` only, when given)."""
    if namespace:
        return VisibleBackups(await api.in_thread(redisbackups.list_backups, namespace, visitor.client), (namespace,))
    try:
        return VisibleBackups(await api.in_thread(redisbackups.list_backups, None, visitor.client), None)
    except AccessDenied:
        pass
    bodies: list[dict[str, Any]] = []
    seen, refused = [], []
    for candidate in candidates:
        try:
            bodies += await api.in_thread(redisbackups.list_backups, candidate, visitor.client)
            seen.append(candidate)
        except AccessDenied:
            refused.append(candidate)
    return VisibleBackups(bodies, tuple(seen), tuple(refused))
