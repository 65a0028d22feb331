"""Steps the fault scenarios share: sources that snapshot slowly, many RedisBackups at once, waiting for them all."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from kubernetes import client

from devstack.fixtures.operator import RunningOperator
from devstack.fixtures.redis import RedisFactory
from devstack.redis_nodes import RedisNode, Topology
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, get, manifest
from tests.fault.audit import Audit
from tests.fault.table import Row

TERMINAL = ("available", "failed")


def slow_source(factory: RedisFactory, *, megabytes: int = 2, key_delay_us: int = 2000, **options: Any) -> Topology:
    """A node whose snapshot takes a while: the fork sleeps `key_delay_us` per 10 kB key while it writes the RDB."""
    topology = factory.standalone(extra={"rdb-key-save-delay": str(key_delay_us)}, **options)
    with topology.primary.client() as c:
        write_random(c, megabytes=megabytes)
    return topology


def create(api: client.ApiClient, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = yaml.safe_load(manifest(name, snapshotName=name, **spec))
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )  # type: ignore[assignment]
    return created


def phase(body: dict[str, Any] | None) -> str | None:
    return ((body or {}).get("status") or {}).get("phase")


def phases(api: client.ApiClient, namespace: str) -> dict[str, str | None]:
    listing: Any = client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return {item["metadata"]["name"]: phase(item) for item in listing.get("items", [])}


def wait_settled(
    api: client.ApiClient,
    namespace: str,
    names: Iterable[str],
    *,
    timeout: float,
    operator: RunningOperator | None = None,
) -> dict[str, str | None]:
    """Wait (bounded) until each named RedisBackup is available or failed; return the phases seen last."""
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while True:
        seen = {name: found for name, found in phases(api, namespace).items() if name in wanted}
        if all(found in TERMINAL for found in seen.values()) and len(seen) == len(wanted):
            return seen
        if time.monotonic() > deadline:
            if operator is not None:
                print(f"operator log:\n{operator.log_tail(40)}")
            return seen
        time.sleep(0.5)


def wait_phase_or_gone(api: client.ApiClient, namespace: str, name: str, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = phase(get(api, namespace, name))
        if found in TERMINAL:
            return found
        time.sleep(0.3)
    return phase(get(api, namespace, name))


def condition_of(body: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    """The condition `kind` of a RedisBackup's status, or {} when it has none."""
    found = [c for c in ((body or {}).get("status") or {}).get("conditions") or [] if c["type"] == kind]
    return found[0] if found else {}


def deletion_blocked(body: dict[str, Any]) -> bool:
    return condition_of(body, "DeletionBlocked").get("status") == "True"


def full_syncs(nodes: Sequence[RedisNode]) -> int:
    """Full SYNCs the nodes served (each snapshot is one): INFO stats sync_full, summed."""
    return sum(int(node.info("stats")["sync_full"]) for node in nodes)


def fill(row: Row, result: Audit, *, runs: int) -> Row:
    """Copy the audit's counts into the scenario's row (before any assertion, so the table shows failures)."""
    row.runs = runs
    row.available_ok = len(result.available_ok)
    row.failed_typed = len(result.failed_typed)
    row.stuck = len(result.stuck)
    row.orphans = len(result.orphans)
    row.duplicates += len(result.duplicates)
    row.defects += len(result.defects)
    if result.reasons:
        reasons = ", ".join(f"{reason} x{count}" for reason, count in sorted(result.reasons.items()))
        row.notes = "; ".join(filter(None, [row.notes, f"failed: {reasons}"]))
    return row


def assert_clean(row: Row, result: Audit) -> None:
    """The invariants every scenario ends with: nothing stuck, orphaned, duplicated or broken."""
    assert not result.defects, f"{row.scenario}: invariants broken: {result.summary()}"
    assert not result.stuck, f"{row.scenario}: stuck: {result.summary()}"
    assert not result.orphans, f"{row.scenario}: orphans in storage: {result.summary()}"
    assert not result.duplicates, f"{row.scenario}: duplicate snapshots: {result.summary()}"
    assert row.duplicates == 0, f"{row.scenario}: {row}"
    assert row.defects == 0, f"{row.scenario}: {row}"
