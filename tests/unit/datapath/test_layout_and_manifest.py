"""Storage keys and the manifest: the shapes other helpers and a restore rely on."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.layout import SnapshotLocation, new_attempt_id
from redisbackup.domain.manifest import Manifest, NodeSnapshotRecord, SourceNode

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_keys_follow_namespace_name_uid_then_attempt_and_node() -> None:
    location = SnapshotLocation("prod", "bkup-20150515", "6f1c2d8e-0000-4000-8000-000000000001")
    assert location.directory == "prod/bkup-20150515/6f1c2d8e-0000-4000-8000-000000000001/"
    attempt = new_attempt_id(NOW)
    assert location.node_key("0002", attempt=attempt) == location.directory + f"{attempt}/node-0002.rdb"
    assert location.manifest_key == location.directory + "manifest.json"


def test_attempt_ids_sort_by_start_and_never_repeat() -> None:
    ids = {new_attempt_id(NOW) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(attempt.startswith("20261127T120000Z-") for attempt in ids)
    assert new_attempt_id(NOW) < new_attempt_id(NOW + dt.timedelta(seconds=1))
    with pytest.raises(ValidationFault, match="cannot be part of a storage key"):
        SnapshotLocation("ns", "a", "u").attempt_directory("../other")


@pytest.mark.parametrize(
    ("namespace", "name", "uid"),
    [("..", "a", "u"), ("ns", "a/b", "u"), ("ns", "", "u"), ("ns", "a", "."), ("ns", "-x", "u"), ("ns", "a b", "u")],
)
def test_components_that_could_escape_or_confuse_a_path_are_refused(namespace: str, name: str, uid: str) -> None:
    with pytest.raises(ValidationFault, match="cannot be part of a storage key"):
        SnapshotLocation(namespace, name, uid)


def test_node_ids_are_four_digits() -> None:
    with pytest.raises(ValidationFault, match="four-digit"):
        SnapshotLocation("ns", "a", "u").node_key("1", attempt="a1")


def record(**overrides: object) -> NodeSnapshotRecord:
    fields: dict[str, object] = {
        "cache_node_id": "0001",
        "cache_size": "163",
        "snapshot_create_time": NOW,
        "object_key": "ns/a/u/node-0001.rdb",
        "engine": "redis",
        "engine_version": "7.0.15",
        "rdb_version": 10,
        "crc64": "d07c1625459101c7",
        "crc64_verified": True,
        "sha256": "0" * 64,
        "transfer": "diskless",
        "source_node": SourceNode(host="10.0.0.4", port=6379, role="replica"),
    }
    fields.update(overrides)
    return NodeSnapshotRecord(**fields)  # type: ignore[arg-type]


def manifest(**overrides: object) -> Manifest:
    fields: dict[str, object] = {
        "snapshot_name": "a",
        "namespace": "ns",
        "uid": "u",
        "cache_cluster_id": "cache-1",
        "engine": "redis",
        "engine_version": "7.0.15",
        "num_cache_nodes": 1,
        "snapshot_create_time": NOW,
        "complete_time": NOW,
        "tool_version": "0.1.0",
        "node_snapshots": (record(),),
    }
    fields.update(overrides)
    return Manifest(**fields)  # type: ignore[arg-type]


def test_the_manifest_round_trips_through_json_in_elasticache_camel_case() -> None:
    original = manifest(tags={"team": "payments"})
    text = original.to_json().decode()
    for name in (
        '"snapshotName"',
        '"cacheClusterId"',
        '"cacheNodeId"',
        '"cacheSize": "163"',
        '"snapshotSource": "manual"',
    ):
        assert name in text
    assert '"replicationGroupId"' not in text  # unset fields are left out, not null
    assert Manifest.from_json(text) == original


def test_a_manifest_from_a_newer_redisbackup_with_more_fields_still_reads() -> None:
    text = manifest().to_json().decode().replace('"tags"', '"fieldFromTheFuture": 1, "tags"')
    assert Manifest.from_json(text).snapshot_name == "a"


def test_a_manifest_names_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of cacheClusterId and replicationGroupId"):
        manifest(replication_group_id="rg")


def test_a_node_snapshot_has_exactly_one_id() -> None:
    with pytest.raises(ValidationError, match="exactly one of cacheNodeId and nodeGroupId"):
        record(node_group_id="0001")


def test_checksums_must_be_lower_case_hex_of_the_right_length() -> None:
    with pytest.raises(ValidationError):
        record(crc64="D07C1625459101C7")
    with pytest.raises(ValidationError):
        record(sha256="abc")
