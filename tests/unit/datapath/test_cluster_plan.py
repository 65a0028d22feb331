"""Choosing one node per Redis Cluster shard, from CLUSTER SHARDS as the server sends it (RESP2 arrays)."""

from __future__ import annotations

import pytest

from redisbackup.domain.cluster import (
    ReplicationGroupNotReady,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_slot_moves,
    plan_cluster,
)
from redisbackup.domain.plan import SlotRange


def node(node_id: str, ip: str, role: str, offset: int, health: str = "online", port: int = 6379) -> list[object]:
    return [
        b"id", node_id.encode(), b"port", port, b"ip", ip.encode(), b"endpoint", ip.encode(),
        b"role", role.encode(), b"replication-offset", offset, b"health", health.encode(),
    ]  # fmt: skip


def shard(slots: list[int], *nodes: list[object]) -> list[object]:
    return [b"slots", slots, b"nodes", list(nodes)]


# Listed out of slot order on purpose: CLUSTER SHARDS does not sort them.
THREE_SHARDS = [
    shard([10923, 16383], node("c" * 40, "10.0.0.3", "master", 900), node("f" * 40, "10.0.0.6", "replica", 900)),
    shard([0, 5460], node("a" * 40, "10.0.0.1", "master", 500), node("d" * 40, "10.0.0.4", "replica", 480)),
    shard([5461, 10922], node("b" * 40, "10.0.0.2", "master", 700), node("e" * 40, "10.0.0.5", "replica", 700)),
]


def test_node_groups_are_numbered_by_lowest_slot_and_read_from_replicas() -> None:
    plan = plan_cluster("orders", parse_cluster_shards(THREE_SHARDS))
    assert plan.kind == "replicationGroup"
    assert [(t.id, str(t.address), t.role, t.slots) for t in plan.nodes] == [
        ("0001", "10.0.0.4:6379", "replica", (SlotRange(0, 5460),)),
        ("0002", "10.0.0.5:6379", "replica", (SlotRange(5461, 10922),)),
        ("0003", "10.0.0.6:6379", "replica", (SlotRange(10923, 16383),)),
    ]


def test_the_replica_with_the_highest_offset_wins_and_ties_go_to_the_lowest_node_id() -> None:
    shards = parse_cluster_shards(
        [
            shard(
                [0, 16383],
                node("a" * 40, "10.0.0.1", "master", 1000),
                node("9" * 40, "10.0.0.9", "replica", 990),
                node("7" * 40, "10.0.0.7", "replica", 995),
                node("8" * 40, "10.0.0.8", "replica", 995),
            )
        ]
    )
    assert plan_cluster("g", shards).nodes[0].cluster_node_id == "7" * 40


def test_replicas_that_are_loading_or_failed_are_passed_over_for_the_primary() -> None:
    shards = parse_cluster_shards(
        [
            shard(
                [0, 16383],
                node("a" * 40, "10.0.0.1", "master", 1000),
                node("b" * 40, "10.0.0.2", "replica", 2000, health="loading"),
                node("c" * 40, "10.0.0.3", "replica", 2000, health="failed"),
            )
        ]
    )
    target = plan_cluster("g", shards).nodes[0]
    assert (str(target.address), target.role) == ("10.0.0.1:6379", "primary")


def test_a_shard_without_an_online_node_is_refused_naming_the_shard() -> None:
    shards = parse_cluster_shards(
        [
            shard([0, 8191], node("a" * 40, "10.0.0.1", "master", 1)),
            shard([8192, 16383], node("b" * 40, "10.0.0.2", "master", 1, health="failed")),
        ]
    )
    with pytest.raises(ReplicationGroupNotReady, match=r"shard 0002 .*8192-16383.* no online node") as caught:
        plan_cluster("g", shards)
    assert caught.value.code == "InvalidReplicationGroupState"
    assert caught.value.transient is True


def test_unserved_slots_are_refused_and_listed() -> None:
    shards = parse_cluster_shards([shard([0, 100, 200, 16000], node("a" * 40, "10.0.0.1", "master", 1))])
    with pytest.raises(ReplicationGroupNotReady, match=r"does not serve slots 101-199,16001-16383"):
        plan_cluster("g", shards)


def test_a_shard_owning_several_ranges_keeps_them_all() -> None:
    shards = parse_cluster_shards(
        [
            shard([0, 99, 200, 16383], node("a" * 40, "10.0.0.1", "master", 1)),
            shard([100, 199], node("b" * 40, "10.0.0.2", "master", 1)),
        ]
    )
    plan = plan_cluster("g", shards)
    assert [t.slots for t in plan.nodes] == [(SlotRange(0, 99), SlotRange(200, 16383)), (SlotRange(100, 199),)]


def test_primaries_without_slots_are_not_snapshotted() -> None:
    shards = parse_cluster_shards(
        [shard([0, 16383], node("a" * 40, "10.0.0.1", "master", 1)), shard([], node("b" * 40, "10.0.0.2", "master", 0))]
    )
    assert [t.id for t in plan_cluster("g", shards).nodes] == ["0001"]


def test_resharding_is_refused_with_the_moving_slots() -> None:
    cluster_nodes = (
        "aaaa 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460 [5461-<-bbbb]\n"
        "bbbb 10.0.0.2:6379@16379 master - 0 0 2 connected 5461-10922 [5461->-aaaa]\n"
    )
    moves = parse_slot_moves(cluster_nodes)
    assert [(m.slot, m.state, m.peer_id) for m in moves] == [(5461, "importing", "bbbb")]
    with pytest.raises(ReplicationGroupNotReady, match=r"resharding .*slot 5461 importing"):
        plan_cluster("g", parse_cluster_shards(THREE_SHARDS), moves)


def test_only_the_myself_line_reports_migrations() -> None:
    text = "bbbb 10.0.0.2:6379@16379 master - 0 0 2 connected 5461-10922 [5461->-aaaa]\n"
    assert parse_slot_moves(text) == ()


def test_tls_clusters_are_read_on_their_tls_port() -> None:
    raw = [shard([0, 16383], [b"id", b"a" * 40, b"tls-port", 6380, b"ip", b"10.0.0.1", b"role", b"master",
                             b"replication-offset", 1, b"health", b"online"])]  # fmt: skip
    assert plan_cluster("g", parse_cluster_shards(raw), tls=True).nodes[0].address.port == 6380


def test_resp3_maps_and_text_are_understood_too() -> None:
    raw = [{"slots": [0, 16383], "nodes": [{"id": "a" * 40, "port": 7000, "ip": "10.0.0.1", "role": "master",
                                             "replication-offset": 5, "health": "online"}]}]  # fmt: skip
    assert str(plan_cluster("g", parse_cluster_shards(raw)).nodes[0].address) == "10.0.0.1:7000"


def test_redis_6_clusters_are_read_from_cluster_nodes_which_has_no_offsets() -> None:
    """Redis 6.0 has no CLUSTER SHARDS: the shards come from CLUSTER NODES (as a 6.0.16 node printed them)."""
    text = (
        "a1 127.0.0.2:30001@40001 myself,master - 0 0 1 connected 0-5460\n"
        "b2 127.0.0.3:30002@40002 master - 0 1700000000000 2 connected 5461-10922\n"
        "c3 127.0.0.4:30003@40003 master - 0 1700000000000 3 connected 10923-16383\n"
        "d4 127.0.0.5:30004@40004 slave a1 0 1700000000000 1 connected\n"
        "e5 127.0.0.6:30005@40005 slave b2 0 1700000000000 2 disconnected\n"
        "f6 127.0.0.7:30006@40006 slave,fail c3 0 1700000000000 3 connected\n"
    )
    shards = parse_cluster_nodes(text)
    plan = plan_cluster("shop", shards)
    assert [(n.id, str(n.address), n.role) for n in plan.nodes] == [
        ("0001", "127.0.0.5:30004", "replica"),
        ("0002", "127.0.0.3:30002", "primary"),  # its replica's link is down
        ("0003", "127.0.0.4:30003", "primary"),  # its replica failed
    ]
    assert [n.slots for n in plan.nodes] == [
        (SlotRange(0, 5460),),
        (SlotRange(5461, 10922),),
        (SlotRange(10923, 16383),),
    ]
