"""What the console's tables show, from the core's documents: which rows, what a backup of each may name."""

from __future__ import annotations

import yaml

from redisbackup.console.redis_page import backup_yaml
from redisbackup.console.rows import SourceChoice, backup_row, redis_rows
from redisbackup.console.sessions import SessionKeys

NODE = {"CacheClusterId": "single", "Engine": "redis", "EngineVersion": "7.2.4", "CacheClusterStatus": "snapshotting",
        "NumCacheNodes": 1, "CacheNodeType": "cache.m.1cpu.1gib"}  # fmt: skip
MEMBERS = [
    {"CacheClusterId": f"shop-{i}", "Engine": "valkey", "EngineVersion": "8.0.1", "ReplicationGroupId": "shop"}
    for i in range(3)
]


def group(**fields: object) -> dict[str, object]:
    members = [{"CacheClusterId": f"shop-{i}", "CurrentRole": "primary" if i == 0 else "replica"} for i in range(3)]
    return {"ReplicationGroupId": "shop", "Engine": "valkey", "Status": "available",
            "MemberClusters": ["shop-0", "shop-1", "shop-2"],
            "NodeGroups": [{"NodeGroupId": "0001", "NodeGroupMembers": members}], **fields}  # fmt: skip


def test_a_node_and_a_replicated_set_are_rows_and_the_set_is_backed_up_from_a_replica_first() -> None:
    rows = redis_rows([NODE, *MEMBERS], [group(ClusterEnabled=False)])
    assert [row.id for row in rows] == ["shop", "single"]  # members are not rows of their own
    shop, single = rows
    assert (shop.mode, shop.engine, shop.version, shop.nodes, shop.shards) == ("Replicated", "valkey", "8.0.1", 3, 1)
    assert [choice.value for choice in shop.sources] == [
        "cacheClusterId:shop-1",
        "cacheClusterId:shop-2",
        "cacheClusterId:shop-0",
    ]
    assert (single.mode, single.status, single.sources) == (
        "Node",
        "snapshotting",
        (SourceChoice("cacheClusterId", "single", "node single"),),
    )


def test_a_redis_cluster_is_backed_up_whole_and_a_group_redis_would_not_describe_offers_both() -> None:
    (cluster,) = redis_rows(MEMBERS, [group(ClusterEnabled=True, NodeGroups=[{}, {}, {}])])
    assert (cluster.mode, cluster.shards) == ("Redis Cluster", 3)
    assert [choice.value for choice in cluster.sources] == ["replicationGroupId:shop"]
    (unknown,) = redis_rows(MEMBERS, [group()])
    assert unknown.mode == "Group"
    assert unknown.sources[-1].value == "replicationGroupId:shop"
    assert unknown.source("cacheClusterId:shop-2") == unknown.sources[1]
    assert unknown.source("cacheClusterId:elsewhere") is None


def test_a_backup_row_shows_the_snapshots_source_status_type_and_size() -> None:
    body = {
        "metadata": {"namespace": "team-a", "name": "nightly", "creationTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {"snapshotName": "Nightly", "cacheClusterId": "single"},
        "status": {"phase": "available", "size": "1.5 MiB"},
    }
    snapshot = {"SnapshotName": "Nightly", "CacheClusterId": "single", "SnapshotStatus": "available",
                "SnapshotSource": "manual", "Engine": "redis", "EngineVersion": "7.2.4"}  # fmt: skip
    row = backup_row(body, snapshot)
    assert (row.key, row.snapshot_name, row.source, row.status, row.type) == (
        "team-a/nightly", "Nightly", "single", "available", "manual",
    )  # fmt: skip
    assert (row.engine, row.created, row.size) == ("redis 7.2.4", "2026-01-02 03:04:05 UTC", "1.5 MiB")
    copy = backup_row({**body, "spec": {"snapshotName": "c", "sourceSnapshotName": "Nightly"}}, {})
    assert copy.source == "copy of Nightly"


def test_the_dialogs_yaml_is_the_redisbackup_the_core_creates_with_its_bound_parts() -> None:
    parts = backup_yaml("team-a", SourceChoice("replicationGroupId", "shop", ""), "Yes")
    document = yaml.safe_load("".join(text for text, _ in parts))
    assert document["metadata"] == {"name": "yes", "namespace": "team-a"}
    assert document["spec"] == {"snapshotName": "Yes", "replicationGroupId": "shop"}  # quoted: not a boolean
    assert {binding for _, binding in parts if binding} == {"snapshot-name", "object-name", "source"}


def test_a_session_cookie_that_is_tampered_with_expired_or_sealed_by_another_key_opens_to_nothing() -> None:
    keys = SessionKeys.generated(lifetime=60)
    session, value = keys.start("a-token", "alice", now=1000.0)
    assert keys.open(value, now=1001.0) == session
    assert "a-token" not in value
    flipped = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    assert keys.open(flipped, now=1001.0) is None
    assert keys.open(value, now=1061.0) is None
    assert SessionKeys.generated().open(value, now=1001.0) is None
    assert keys.open("not base64 at all!", now=1001.0) is None
    assert keys.csrf_matches(session.session_id, keys.csrf_token(session.session_id))
    assert not keys.csrf_matches(session.session_id, keys.csrf_token("another session"))
