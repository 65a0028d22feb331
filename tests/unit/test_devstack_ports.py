"""The stack's port picks: free when picked, and never the same one twice in a process."""

from __future__ import annotations

import pytest

from devstack import net


def test_a_process_never_gets_the_same_port_twice() -> None:
    ports = [net.free_port() for _ in range(3000)]
    assert len(set(ports)) == len(ports)


def test_a_port_the_kernel_picks_again_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    picks = iter([40001, 40001, 40002])
    monkeypatch.setattr(net, "_given", set())
    monkeypatch.setattr(net, "_order", [])
    monkeypatch.setattr(net, "_kernel_pick", lambda _host: next(picks))
    assert [net.free_port(), net.free_port()] == [40001, 40002]


def test_pairs_keep_their_offset_and_their_ports_are_not_handed_out_again() -> None:
    pairs = [net.free_port_pair("127.0.0.1", 10000) for _ in range(200)]
    assert all(high == low + 10000 for low, high in pairs)
    assert len({p for pair in pairs for p in pair}) == 400
