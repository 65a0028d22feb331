"""CreateSnapshot, CopySnapshot, DescribeSnapshots and DeleteSnapshot on RedisBackups, as the caller.

A snapshot is a RedisBackup. Creating one is ElastiCache-shaped: ElastiCache refuses a request whose source does
not exist (CacheClusterNotFound …) instead of keeping a snapshot that waits, while the operator, for GitOps,
waits for a missing source. So an operation creates the RedisBackup, watches it until the operator has accepted it
(chosen the nodes to read) or refused it, and in the second case deletes it again and raises the fault
(`redisbackup.domain.acceptance` reads the answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import resolved_identifier
from redisbackup.domain import acceptance
from redisbackup.domain.automated import ELASTICACHE_SOURCE_FILTER, matches_source_filter
from redisbackup.domain.elasticache import snapshot_document_from_body
from redisbackup.domain.faults import InvalidSnapshotState, RedisBackupError, ValidationFault
from redisbackup.elasticache import paging
from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import api, redisbackups
from redisbackup.k8s.faults import RequestRejected
from redisbackup.k8s.redisbackups import SnapshotNotFound

POLL_SECONDS = 0.5
SNAPSHOT_SOURCES = tuple(ELASTICACHE_SOURCE_FILTER)  # DescribeSnapshots' SnapshotSource: system | user


@dataclass(frozen=True)
class NewSnapshot:
    """A CreateSnapshot (a Redis source) or CopySnapshot (`source_snapshot_name`) request.

    `settings` are RedisBackup spec fields ElastiCache has no parameter for (auth, tls, port, storage,
    deletionPolicy, verify, sourceNamespace), in the spec's own names.
    """

    snapshot_name: str
    cache_cluster_id: str | None = None
    replication_group_id: str | None = None
    source_snapshot_name: str | None = None
    tags: Mapping[str, str] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def redisbackup(self) -> dict[str, Any]:
        """The RedisBackup that asks the operator for this snapshot."""
        spec: dict[str, Any] = {"snapshotName": self.snapshot_name}
        sources = {
            "cacheClusterId": self.cache_cluster_id,
            "replicationGroupId": self.replication_group_id,
            "sourceSnapshotName": self.source_snapshot_name,
        }
        spec.update({key: value for key, value in sources.items() if value is not None})
        spec.update({key: value for key, value in self.settings.items() if value is not None})
        if self.tags is not None:
            spec["tags"] = dict(self.tags)
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "RedisBackup",
            # Kubernetes names are lower case; ElastiCache's names are case-insensitive too.
            "metadata": {"name": resolved_identifier(self.snapshot_name)},
            "spec": spec,
        }


@dataclass(frozen=True)
class Answer:
    """What an operation answered: the snapshot document, the RedisBackup as it is, and — for a create or copy —
    whether the operator answered within the time given (else the RedisBackup is created and waits for it)."""

    document: dict[str, Any]
    body: dict[str, Any]
    answered: bool


def snapshot(caller: Caller, body: Mapping[str, Any], *, show_node_group_config: bool = False) -> dict[str, Any]:
    """A RedisBackup as ElastiCache's Snapshot (its fields, without the {"Snapshot": …} around them)."""
    document = snapshot_document_from_body(body, show_node_group_config=show_node_group_config)
    fields: dict[str, Any] = document["Snapshot"]
    arn = caller.arn("snapshot", str((body.get("spec") or {}).get("snapshotName", "")))
    if arn is not None:
        fields["ARN"] = arn
    return fields


# ---------------------------------------------------------------------------------------------- create and copy
async def _create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    try:
        return await api.in_thread(redisbackups.create_backup, caller.namespace, body, caller.client)
    except RequestRejected as fault:
        if fault.code == FaultCode.SNAPSHOT_ALREADY_EXISTS and "already exists" in fault.message:
            raise RequestRejected(
                f"Snapshot with specified name [{body['spec']['snapshotName']}] already exists in namespace "
                f"{caller.namespace}: choose another name, or delete that snapshot first",
                code=fault.code,
            ) from None
        raise


async def watch(
    caller: Caller, name: str, until: Callable[[dict[str, Any]], bool], *, within: float | None
) -> tuple[dict[str, Any] | None, bool]:
    """Poll RedisBackup `name` until `until(body)`: (the last body, or None when it is gone; whether `until` held
    `within` seconds, None: no limit)."""
    import asyncio  # here, not at the top: describe-snapshots runs without asyncio (CLI start-up, `make bench`)

    deadline = None if within is None else time.monotonic() + within
    while True:
        body = await api.in_thread(redisbackups.get_backup, caller.namespace, name, caller.client)
        if body is None:
            return None, False
        if until(body):
            return body, True
        if deadline is not None and time.monotonic() >= deadline:
            return body, False
        await asyncio.sleep(POLL_SECONDS)


async def _accept(caller: Caller, name: str, created: dict[str, Any], within: float) -> tuple[dict[str, Any], bool]:
    """Wait for the operator's answer; a refused request is deleted again and raised, as ElastiCache refuses it."""
    if within <= 0:
        return created, False
    body, answered = await watch(
        caller, name, lambda b: acceptance.accepted(b) or acceptance.refusal(b) is not None, within=within
    )
    if body is None:
        raise RedisBackupError(f"RedisBackup {caller.namespace}/{name} was deleted while it was being created")
    if (refused := acceptance.refusal(body)) is not None:
        await api.in_thread(redisbackups.delete_backup, caller.namespace, name, caller.client)
        raise refused
    return body, answered


async def submit(caller: Caller, request: NewSnapshot, *, accept_timeout: float) -> Answer:
    """Create the RedisBackup and wait (up to `accept_timeout` seconds; 0: not at all) for the operator's answer."""
    body = request.redisbackup()
    created = await _create(caller, body)
    current, answered = await _accept(caller, body["metadata"]["name"], created, accept_timeout)
    return Answer({"Snapshot": snapshot(caller, current)}, current, answered)


async def create_snapshot(caller: Caller, request: NewSnapshot, *, accept_timeout: float) -> Answer:
    if request.source_snapshot_name is not None or (request.cache_cluster_id is None) == (
        request.replication_group_id is None
    ):
        raise ValidationFault(
            "CreateSnapshot needs exactly one of CacheClusterId (a single Redis node) and ReplicationGroupId (a "
            "Redis Cluster)",
            code=FaultCode.INVALID_PARAMETER_COMBINATION,
            field="CacheClusterId",
        )
    return await submit(caller, request, accept_timeout=accept_timeout)


async def copy_snapshot(caller: Caller, request: NewSnapshot, *, accept_timeout: float) -> Answer:
    if request.source_snapshot_name is None or request.cache_cluster_id or request.replication_group_id:
        raise ValidationFault(
            "CopySnapshot copies a stored snapshot: give SourceSnapshotName, and no Redis source",
            code=FaultCode.INVALID_PARAMETER_COMBINATION,
            field="SourceSnapshotName",
        )
    return await submit(caller, request, accept_timeout=accept_timeout)


# ------------------------------------------------------------------------------------------------------ describe
def _matches(value: object, wanted: str | None) -> bool:
    return wanted is None or (isinstance(value, str) and resolved_identifier(value) == resolved_identifier(wanted))


@dataclass(frozen=True)
class SnapshotFilter:
    """DescribeSnapshots' filters: names and ids match ignoring case, as in ElastiCache."""

    snapshot_name: str | None = None
    cache_cluster_id: str | None = None
    replication_group_id: str | None = None
    snapshot_source: str | None = None

    def check(self) -> None:
        if self.cache_cluster_id is not None and self.replication_group_id is not None:
            raise ValidationFault(
                "CacheClusterId and ReplicationGroupId cannot be combined: filter by one of them",
                code=FaultCode.INVALID_PARAMETER_COMBINATION,
                field="CacheClusterId",
            )
        if self.snapshot_source is not None and self.snapshot_source not in SNAPSHOT_SOURCES:
            raise ValidationFault(
                f"SnapshotSource {self.snapshot_source!r} is not one of {', '.join(SNAPSHOT_SOURCES)}",
                field="SnapshotSource",
            )

    def selects(self, body: Mapping[str, Any]) -> bool:
        spec = body.get("spec") or {}
        return (
            _matches(spec.get("snapshotName"), self.snapshot_name)
            and _matches(spec.get("cacheClusterId"), self.cache_cluster_id)
            and _matches(spec.get("replicationGroupId"), self.replication_group_id)
            and (self.cache_cluster_id is None or "cacheClusterId" in spec)
            and (self.replication_group_id is None or "replicationGroupId" in spec)
            and matches_source_filter(body, self.snapshot_source)  # the one rule of automated: domain.automated
        )


def _order(body: Mapping[str, Any]) -> paging.SortKey:
    metadata = body.get("metadata") or {}
    return (str(metadata.get("creationTimestamp", "")), str(metadata.get("namespace", "")), str(metadata["name"]))


async def describe_snapshots(
    caller: Caller,
    selection: SnapshotFilter = SnapshotFilter(),
    *,
    show_node_group_config: bool = False,
    max_records: int | None = None,
    marker: str | None = None,
    all_namespaces: bool = False,
    paged: bool = True,
) -> dict[str, Any]:
    """`{"Snapshots": […], "Marker": …}`, oldest first. A SnapshotName that matches nothing is
    SnapshotNotFoundFault; a source id that matches nothing is an empty list: snapshots outlive their source.
    `paged=False` returns every snapshot at once (the CLI, which has no --max-records)."""
    return await api.in_thread(
        describe_snapshots_sync,
        caller,
        selection,
        show_node_group_config=show_node_group_config,
        max_records=max_records,
        marker=marker,
        all_namespaces=all_namespaces,
        paged=paged,
    )


def describe_snapshots_sync(
    caller: Caller,
    selection: SnapshotFilter = SnapshotFilter(),
    *,
    show_node_group_config: bool = False,
    max_records: int | None = None,
    marker: str | None = None,
    all_namespaces: bool = False,
    paged: bool = True,
) -> dict[str, Any]:
    """`describe_snapshots`, blocking: for the CLI, which then starts without asyncio and an event loop (start-up
    is a `make bench` figure), and, on the Kubernetes thread pool, for the servers."""
    selection.check()
    namespace = None if all_namespaces else caller.namespace
    listed = redisbackups.list_backups(namespace, caller.client)
    backups = [body for body in listed if selection.selects(body)]
    if selection.snapshot_name is not None and not backups:
        where = "any namespace" if all_namespaces else f"namespace {caller.namespace}"
        raise SnapshotNotFound(f"Snapshot {selection.snapshot_name} not found in {where}", field="SnapshotName")
    marker_out = None
    if paged:
        backups, marker_out = paging.page(
            backups, _order, paging=paging.SNAPSHOTS, max_records=max_records, marker=marker
        )
    else:
        backups.sort(key=_order)
    document: dict[str, Any] = {
        "Snapshots": [snapshot(caller, body, show_node_group_config=show_node_group_config) for body in backups]
    }
    if marker_out is not None:
        document["Marker"] = marker_out
    return document


# -------------------------------------------------------------------------------------------------------- delete
async def delete_snapshot(caller: Caller, snapshot_name: str) -> Answer:
    """Ask for the RedisBackup's deletion: `{"Snapshot": {…, "SnapshotStatus": "deleting"}}`. As in ElastiCache, a
    snapshot being created is refused (InvalidSnapshotState)."""
    namespace = caller.namespace
    body = await api.in_thread(redisbackups.find_backup, namespace, snapshot_name, caller.client)
    name = body["metadata"]["name"]
    if acceptance.phase(body) == "creating":
        raise InvalidSnapshotState(
            f"Snapshot {snapshot_name} is creating: it can be deleted once it is available or failed. To cancel it, "
            f"delete the RedisBackup itself: kubectl delete -n {namespace} redisbackup/{name}",
            field="SnapshotName",
        )
    deleted = await api.in_thread(redisbackups.delete_backup, namespace, name, caller.client)
    # The finalizer keeps it while the operator releases the data; if it is gone already, show it as it was.
    current = deleted if deleted.get("kind") == "RedisBackup" else body
    fields = snapshot(caller, current)
    fields["SnapshotStatus"] = "deleting"
    return Answer({"Snapshot": fields}, current, answered=True)
