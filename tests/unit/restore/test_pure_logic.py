"""Pure pieces of restore: snapshot URLs, hash slots, the cluster restore plan and target checks, acceptance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from redisbackup.api.faults import FaultCode
from redisbackup.domain import acceptance
from redisbackup.domain.cluster_restore import (
    PrimaryAssignment,
    TargetFacts,
    TargetInCluster,
    TargetNotClustered,
    TargetNotEmpty,
    check_target,
    missing_slots,
    parse_myself,
    plan_cluster_restore,
)
from redisbackup.domain.engines import VerifierTooOld
from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.layout import SnapshotLocation, split_snapshot_url
from redisbackup.domain.plan import SlotRange
from redisbackup.domain.slots import SlotSet, key_slot, parse_slots
from redisbackup.domain.source import NodeAddress
from redisbackup.domain.verification import NodeCheck, VerificationReport, verification_status
from redisbackup.local.check_rdb import RdbCheckFailed, parse_report
from tests.unit.restore.support import manifest, record


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("s3://bucket/prefix/ns/nightly/uid-1", "s3://bucket/prefix"),
        ("s3://bucket/ns/nightly/uid-1/", "s3://bucket"),
        ("s3://bucket/a/b/ns/nightly/uid-1/manifest.json", "s3://bucket/a/b"),
        ("file:///backups/ns/nightly/uid-1", "file:///backups"),
        ("/backups/ns/nightly/uid-1", "/backups"),
        ("file:///ns/nightly/uid-1", "file:///"),
    ],
)
def test_a_snapshot_url_splits_into_its_location_and_the_snapshot(url: str, root: str) -> None:
    assert split_snapshot_url(url) == (root, SnapshotLocation("ns", "nightly", "uid-1"))


@pytest.mark.parametrize("url", ["s3://bucket/nightly/uid-1", "s3://bucket/ns//uid-1", "/x"])
def test_a_url_without_namespace_name_and_uid_is_refused(url: str) -> None:
    with pytest.raises(ValidationFault, match="does not name a snapshot"):
        split_snapshot_url(url)


def test_key_slots_follow_redis_hash_tags() -> None:
    assert key_slot(b"foo") == 12182
    assert key_slot(b"123456789") == 12739  # CRC16-XMODEM's check value, below 16384
    assert key_slot(b"{user1000}.following") == key_slot(b"{user1000}.followers") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # empty tag: the whole key is hashed
    assert key_slot(b"foo{}{bar}") != key_slot(b"bar")
    assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")


def test_slot_lists_parse_and_test_membership() -> None:
    ranges = parse_slots("8192-16383,0-10, 42")
    assert ranges == (SlotRange(0, 10), SlotRange(42, 42), SlotRange(8192, 16383))
    owned = SlotSet(ranges)
    assert (0 in owned, 11 in owned, 42 in owned, 16383 in owned, len(owned)) == (True, False, True, True, 8204)
    for bad in ("0-16384", "10-5", "x"):
        with pytest.raises(ValidationFault):
            parse_slots(bad)


def shards() -> Any:
    return manifest(
        record(cache_node_id=None, node_group_id="0001", slots="0-5460"),
        record(cache_node_id=None, node_group_id="0002", slots="5461-10922"),
        record(cache_node_id=None, node_group_id="0003", slots="10923-16383"),
        clustered=True,
    )


def nodes(count: int) -> list[NodeAddress]:
    return [NodeAddress(f"10.0.0.{i}", 6379) for i in range(1, count + 1)]


def test_the_first_nodes_are_the_primaries_and_replicas_go_round_the_node_groups() -> None:
    plan = plan_cluster_restore(shards(), nodes(9), 2)
    assert [(p.node_group_id, p.address.host, p.slots) for p in plan.primaries][1] == (
        "0002",
        "10.0.0.2",
        (SlotRange(5461, 10922),),
    )
    assert [(r.address.host, r.node_group_id) for r in plan.replicas] == [
        ("10.0.0.4", "0001"),
        ("10.0.0.5", "0002"),
        ("10.0.0.6", "0003"),
        ("10.0.0.7", "0001"),
        ("10.0.0.8", "0002"),
        ("10.0.0.9", "0003"),
    ]


def test_the_node_count_must_fit_the_snapshot() -> None:
    with pytest.raises(
        ValidationFault, match=r"needs 6 nodes \(3 primaries plus 1 replica\(s\) each\); --nodes names 4"
    ) as caught:
        plan_cluster_restore(shards(), nodes(4), 1)
    assert caught.value.code == FaultCode.INVALID_PARAMETER_COMBINATION
    with pytest.raises(ValidationFault, match="names a node twice"):
        plan_cluster_restore(shards(), [*nodes(2), nodes(1)[0]])
    with pytest.raises(ValidationFault, match="single node"):
        plan_cluster_restore(manifest(), nodes(1))


FRESH = TargetFacts(NodeAddress("10.0.0.1"), cluster_enabled=True, keys=0)
PRIMARY = PrimaryAssignment(NodeAddress("10.0.0.1"), record(), (SlotRange(0, 5460),))


@pytest.mark.parametrize(
    ("facts", "preloaded", "fault", "text"),
    [
        (TargetFacts(FRESH.address, cluster_enabled=False, keys=0), False, TargetNotClustered, "cluster-enabled no"),
        (TargetFacts(FRESH.address, True, 0, known_nodes=4), False, TargetInCluster, "knows 3 other"),
        (TargetFacts(FRESH.address, True, 12), False, TargetNotEmpty, "holds 12 keys: restore into empty"),
        (TargetFacts(FRESH.address, True, 0, owned_slots=(SlotRange(1, 2),)), False, TargetInCluster, "owns slots"),
        (TargetFacts(FRESH.address, True, 5, owned_slots=(SlotRange(6000, 6001),)), True, TargetInCluster, "outside"),
    ],
)
def test_unfit_nodes_are_refused_with_the_reason(
    facts: TargetFacts, preloaded: bool, fault: type[Exception], text: str
) -> None:
    with pytest.raises(fault, match=text):
        check_target(facts, PRIMARY, preloaded=preloaded)


def test_a_preloaded_primary_may_own_the_slots_of_its_keys_and_gets_the_rest() -> None:
    facts = TargetFacts(FRESH.address, True, 5, owned_slots=(SlotRange(7, 7), SlotRange(100, 200)))
    check_target(facts, PRIMARY, preloaded=True)
    assert missing_slots(PRIMARY, facts.owned_slots) == (SlotRange(0, 6), SlotRange(8, 99), SlotRange(201, 5460))
    assert missing_slots(PRIMARY, ()) == (SlotRange(0, 5460),)
    with pytest.raises(TargetNotEmpty, match="a replica must start empty"):
        check_target(facts, None, preloaded=True)


def test_a_nodes_own_line_of_cluster_nodes_gives_its_id_bus_port_and_slots() -> None:
    text = (
        "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host slave e7d1eecce 0 1 4 connected\n"
        "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 myself,master - 0 0 2 connected 0-5 7 "
        "[93->-292f8b365bb7edb5e285caf0b7e6ddc7265a2f4f]\n"
    )
    me = parse_myself(text)
    assert me is not None
    assert (me.node_id[:8], me.bus_port, me.slots) == ("67ed2db8", 31002, (SlotRange(0, 5), SlotRange(7, 7)))
    assert parse_myself(":7392@17392") is None


def test_redis_check_rdbs_verdicts_are_parsed() -> None:
    good = (
        "[offset 0] Checking RDB file dump.rdb\n[offset 27] AUX FIELD redis-ver = '7.0.15'\n"
        "[offset 118] \\o/ RDB looks OK! \\o/\n[info] 2 keys read\n[info] 1 expires\n[info] 0 already expired\n"
    )
    checked = parse_report(good, 0, what="node 0001")
    assert (checked.keys, checked.expires, checked.already_expired, checked.written_by) == (2, 1, 0, "redis 7.0.15")
    valkey = good.replace("redis-ver = '7.0.15'", "valkey-ver = '8.1.1'")
    assert parse_report(valkey, 0, what="node 0001").written_by == "valkey 8.1.1"
    bad = (
        "--- RDB ERROR DETECTED ---\n[offset 3000] Unexpected EOF reading RDB file\n"
        "[additional info] Reading key 'key:758'\n[info] 155 keys read\n"
    )
    with pytest.raises(RdbCheckFailed, match=r"Unexpected EOF reading RDB file; \[additional info\] Reading key"):
        parse_report(bad, 1, what="node 0001")


def test_a_checker_too_old_for_the_rdb_gives_no_verdict() -> None:
    """What bookworm's redis-check-rdb 7.0.15 says of Redis 8's RDB 12: not damage, an old reader."""
    too_new = (
        "[offset 0] Checking RDB file dump.rdb\n--- RDB ERROR DETECTED ---\n"
        "[offset 9] Can't handle RDB format version 12\n[additional info] While doing: start\n[info] 0 keys read\n"
    )
    with pytest.raises(VerifierTooOld, match=r"redis-check-rdb 7\.0\.15 does not read node 0001") as raised:
        parse_report(too_new, 1, what="node 0001", checker="redis-check-rdb 7.0.15")
    assert "damaged" not in raised.value.message
    assert raised.value.code == "VerifierTooOld"


def body(status: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"metadata": metadata, "spec": {"snapshotName": "s"}, "status": status}


def condition(kind: str, reason: str, message: str = "m", value: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": value, "reason": reason, "message": message}


def test_the_operators_answer_reads_as_elasticaches() -> None:
    waiting = body({"phase": "creating", "conditions": [condition("Progressing", "CacheClusterNotFound", "no pod")]})
    refused = acceptance.refusal(waiting)
    assert refused is not None
    assert (refused.code, refused.message) == ("CacheClusterNotFound", "no pod")
    busy = body({"phase": "creating", "conditions": [condition("Progressing", "InvalidCacheClusterState")]})
    assert acceptance.refusal(busy) is None  # queued behind another snapshot of the source: ours waits
    failed = body({"phase": "failed", "conditions": [condition("Failed", "SyncNotPermitted", "acl")]})
    assert acceptance.refusal(failed) is not None
    assert not acceptance.accepted(body({"phase": "creating"}))
    assert acceptance.accepted(body({"phase": "creating", "nodeSnapshots": [{"cacheNodeId": "0001"}]}))
    assert acceptance.phase(body({"phase": "available"}, deletionTimestamp="2026-01-01T00:00:00Z")) == "deleting"


def test_a_failed_verification_is_recorded_with_its_fault() -> None:
    from redisbackup.workflows.restore import StoredObjectCorrupt

    when = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    report = VerificationReport(
        "nightly",
        when,
        "redis 7.0.15",
        (
            NodeCheck("0001", True, "Passed", keys=10, expires=2, keys_per_database={0: 10}),
            NodeCheck("0002", True, "Failed", fault=StoredObjectCorrupt("bytes differ")),
        ),
    )
    assert verification_status(report) == {
        "result": "Failed",
        "verifyTime": "2026-03-04T05:06:07Z",
        "loader": "redis 7.0.15",
        "reason": "StoredObjectCorrupt",
        "message": "bytes differ",
        "nodes": [
            {"nodeGroupId": "0001", "result": "Passed", "keys": 10, "expires": 2},
            {"nodeGroupId": "0002", "result": "Failed", "reason": "StoredObjectCorrupt", "message": "bytes differ"},
        ],
    }
    assert report.summary == "verification of 2 shards failed for 0002: bytes differ"


def test_nodes_that_already_are_the_restored_cluster_are_recognised() -> None:
    from redisbackup.domain.cluster_restore import already_restored

    plan = plan_cluster_restore(shards(), nodes(6), 1)
    ids = {address: f"id{index}" for index, address in enumerate(plan.addresses)}
    facts = {
        p.address: TargetFacts(p.address, True, 3, known_nodes=6, owned_slots=p.slots, node_id=ids[p.address])
        for p in plan.primaries
    } | {
        r.address: TargetFacts(r.address, True, 3, known_nodes=6, node_id=ids[r.address], primary_id=ids[r.primary])
        for r in plan.replicas
    }
    assert already_restored(plan, facts)
    half = dict(facts)
    last = plan.replicas[-1].address
    half[last] = TargetFacts(last, True, 0, known_nodes=6, node_id=ids[last])  # not yet replicating
    assert not already_restored(plan, half)
    fresh = {a: TargetFacts(a, True, 0) for a in plan.addresses}
    assert not already_restored(plan, fresh)


def test_a_replicas_own_line_names_its_primary() -> None:
    line = "07c37dfe 127.0.0.1:30004@31004 myself,slave e7d1eecce 0 1 4 connected\n"
    me = parse_myself(line)
    assert me is not None
    assert (me.node_id, me.primary_id, me.slots) == ("07c37dfe", "e7d1eecce", ())
