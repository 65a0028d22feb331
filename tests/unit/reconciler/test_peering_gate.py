"""kopf's peering rule for our informer's work (domain.peering, workflows.peering_gate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from redisbackup.domain.peering import must_pause
from redisbackup.k8s.faults import KubernetesUnavailable
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.backup_events import BackupEvents
from redisbackup.workflows.peering_gate import PeeringGate
from tests.unit.reconciler.fakes import FakeKubernetes, backups, body, single_pod

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


def peer(priority: int, seconds_ago: float = 5, lifetime: int = 60) -> dict[str, Any]:
    seen = (NOW - dt.timedelta(seconds=seconds_ago)).isoformat()
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen}


def test_a_live_peer_with_a_higher_priority_pauses_and_a_dead_one_does_not() -> None:
    assert must_pause([{"me": peer(10), "other": peer(20)}], identity="me", priority=10, now=NOW)
    assert not must_pause([{"me": peer(10), "other": peer(20, seconds_ago=120)}], identity="me", priority=10, now=NOW)
    assert not must_pause([{"me": peer(10), "other": peer(5)}], identity="me", priority=10, now=NOW)
    assert must_pause([{"me": peer(10), "other": peer(10)}], identity="me", priority=10, now=NOW), "kopf pauses both"
    assert not must_pause([{}], identity="me", priority=10, now=NOW)


def test_without_our_identity_one_entry_at_our_priority_is_taken_to_be_ours() -> None:
    assert not must_pause([{"kopf-generated": peer(10), "low": peer(3)}], identity=None, priority=10, now=NOW)
    assert must_pause([{"a": peer(10), "b": peer(10)}], identity=None, priority=10, now=NOW)
    assert must_pause([{"a": peer(10)}, {"b": peer(11)}], identity=None, priority=10, now=NOW), "any namespace"


async def test_the_gate_closes_for_a_higher_peer_keeps_its_state_when_unreadable_and_relists_on_opening() -> None:
    peerings: list[Mapping[str, Any]] = [{"me": peer(10), "other": peer(20)}]
    failing: list[Exception] = []
    opened: list[bool] = []

    async def read() -> list[Mapping[str, Any]]:
        if failing:
            raise failing.pop()
        return peerings

    gate = PeeringGate(read, identity="me", priority=10, on_open=lambda: opened.append(True), now=lambda: NOW)
    await gate.check()
    assert gate() is False
    failing.append(KubernetesUnavailable("connection refused"))
    await gate.check()
    assert gate() is False, "an unreadable peering changes nothing"
    peerings[0] = {"me": peer(10)}
    await gate.check()
    assert gate() is True
    assert opened == [True]


async def test_a_paused_operator_indexes_every_backup_but_starts_no_work() -> None:
    reconciler = backups(FakeKubernetes(single_pod), MemoryStore())  # type: ignore[arg-type]
    calls: list[bool] = []

    class Finalizers:
        async def set_finalizer(self, found: Mapping[str, Any], *, present: bool) -> bool:
            calls.append(present)
            return True

    events = BackupEvents(reconciler, [], Finalizers(), active=lambda: False)
    await events("ADDED", body(status={"phase": "available", "observedGeneration": 1}))
    assert [b.uid for b in reconciler.index.named("team", "nightly")] == ["uid-1"]
    assert len(events.adding) == 0, "no finalizer added while paused"
    assert calls == []
