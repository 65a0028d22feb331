"""kopf's peering rule for our informer's work (domain.peering, workflows.peering_gate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from redisbackup.domain.peering import must_pause
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


async def test_the_gate_follows_the_peering_objects_events_and_relists_on_opening() -> None:
    opened: list[bool] = []
    clock = [NOW]
    gate = PeeringGate(identity="me", priority=10, on_open=lambda: opened.append(True), now=lambda: clock[0])
    peering = {"metadata": {"uid": "p1"}, "status": {"me": peer(10), "other": peer(20)}}
    await gate.observe("ADDED", peering)
    assert gate() is False
    clock[0] = NOW + dt.timedelta(seconds=120)  # the other stopped renewing its entry: its lifetime ran out
    gate.decide()
    assert gate() is True
    assert opened == [True]
    await gate.observe("MODIFIED", {"metadata": {"uid": "p1"}, "status": {"me": peer(10, -115), "x": peer(30, -115)}})
    assert gate() is False
    await gate.observe("DELETED", {"metadata": {"uid": "p1"}})
    assert gate() is True
    assert opened == [True, True]


def test_the_operator_wires_the_gate_when_peered() -> None:
    import kopf

    from redisbackup import main
    from redisbackup.handlers import backups as handlers

    reconciler = main.build_reconciler(main.OperatorOptions(webhook=None))
    peered = handlers.register(kopf.OperatorRegistry(), reconciler, peering=handlers.Peering("rb", 5))
    assert isinstance(peered.active, PeeringGate)
    assert peered.active.priority == 5
    alone = handlers.register(kopf.OperatorRegistry(), reconciler)
    assert alone.active()


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
