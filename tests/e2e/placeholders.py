"""Stand-ins for Redis topologies where a test needs only API objects, not a server behind them."""

from __future__ import annotations

from dataclasses import dataclass, field

from devstack.net import next_host


@dataclass
class PlaceholderNode:
    name: str
    host: str = field(default_factory=next_host)
    port: int = 6379
    role: str = "primary"
    password: str | None = None
    username: str | None = None
    tls: None = None


@dataclass
class PlaceholderTopology:
    name: str
    nodes: list[PlaceholderNode]

    @classmethod
    def of(cls, name: str, count: int) -> PlaceholderTopology:
        nodes = [PlaceholderNode(f"{name}-{i}", role="primary" if i == 0 else "replica") for i in range(count)]
        return cls(name, nodes)
