"""Table tests of every admission rule: each bad spec yields exactly the expected faults, fields and messages."""

from __future__ import annotations

from typing import Any

import pytest

from redisbackup.api.faults import FaultCode
from redisbackup.api.validation import (
    ExistingBackup,
    check_admitted,
    check_create,
    check_spec,
    check_tags,
    check_unique,
    check_update,
    warnings,
)

IPV = FaultCode.INVALID_PARAMETER_VALUE
IPC = FaultCode.INVALID_PARAMETER_COMBINATION


def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"snapshotName": "bkup-20150515", "cacheClusterId": "mycluster"}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


def body(name: str = "backup", namespace: str = "team-a", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec(**fields),
    }


def faults(violations: list[Any]) -> list[tuple[str, str]]:
    return [(str(v.code), v.field) for v in violations]


@pytest.mark.parametrize(
    "good",
    [
        spec(),
        spec(cacheClusterId=..., replicationGroupId="myClusteredRedis"),
        spec(cacheClusterId="myNonClusteredRedis-001"),
        spec(deletionPolicy="Retain", port=6380, storage="archive", tags={"team": "payments"}),
        spec(auth={"secretRef": {"name": "redis", "key": "password"}, "username": "backup"}),
        spec(tls={"caSecretRef": {"name": "redis-ca", "key": "ca.crt"}, "serverName": "redis.local"}),
        spec(replicationGroupId=None),  # YAML null is absent, as the apiserver prunes it
        spec(cacheClusterId=..., sourceSnapshotName="nightly", storage="archive", verify=True),  # a copy
    ],
)
def test_a_spec_elasticache_would_accept_has_no_violations(good: dict[str, Any]) -> None:
    assert check_spec(good) == []


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (spec(snapshotName=""), [(IPV, "spec.snapshotName", "spec.snapshotName is empty")]),
        (spec(snapshotName="a" * 21), [(IPV, "spec.snapshotName", "spec.snapshotName is longer than 20 characters")]),
        (spec(snapshotName="2015-bkup"), [(IPV, "spec.snapshotName", "must begin with an ASCII letter")]),
        (spec(snapshotName="bkup_2015"), [(IPV, "spec.snapshotName", "only ASCII letters, digits and hyphens")]),
        (spec(snapshotName="bkup--2015"), [(IPV, "spec.snapshotName", "two consecutive hyphens")]),
        (spec(snapshotName="bkup-"), [(IPV, "spec.snapshotName", "cannot end with a hyphen")]),
        (spec(snapshotName=...), [(IPV, "spec.snapshotName", "spec.snapshotName is required")]),
        (spec(snapshotName=2015), [(IPV, "spec.snapshotName", "spec.snapshotName must be a string")]),
        (
            spec(replicationGroupId="myClusteredRedis"),
            [
                (
                    IPC,
                    "spec",
                    "more than one of spec.cacheClusterId, spec.replicationGroupId and spec.sourceSnapshotName",
                )
            ],
        ),
        (
            spec(cacheClusterId=...),
            [(IPC, "spec", "none of spec.cacheClusterId, spec.replicationGroupId and spec.sourceSnapshotName is set")],
        ),
        (
            spec(cacheClusterId=..., sourceSnapshotName="nightly", port=6380),
            [(IPC, "spec", "spec.sourceSnapshotName copies a stored snapshot, so spec.sourceNamespace, spec.auth")],
        ),
        (
            spec(sourceSnapshotName="night--ly"),
            [
                (IPV, "spec.sourceSnapshotName", "two consecutive hyphens"),
                (IPC, "spec", "more than one of spec.cacheClusterId"),
            ],
        ),
        (spec(cacheClusterId="my_cluster"), [(IPV, "spec.cacheClusterId", "only ASCII letters, digits and hyphens")]),
        (spec(cacheClusterId="c" * 51), [(IPV, "spec.cacheClusterId", "longer than 50 characters")]),
        (
            spec(cacheClusterId=..., replicationGroupId="grp-"),
            [(IPV, "spec.replicationGroupId", "spec.replicationGroupId cannot end with a hyphen")],
        ),
        (spec(deletionPolicy="Keep"), [(IPV, "spec.deletionPolicy", "must be 'Delete' or 'Retain'")]),
        (spec(port="6379"), [(IPV, "spec.port", "spec.port must be a whole number")]),
        (spec(port=70000), [(IPV, "spec.port", "a port number from 1 to 65535")]),
        (spec(storage="Archive_1"), [(IPV, "spec.storage", "must be the name of a storage location")]),
        (spec(snapshotname="x"), [(IPV, "spec.snapshotname", "is not a field of a RedisBackup")]),
        (spec(auth={"secretRef": {"name": "redis"}}), [(IPV, "spec.auth.secretRef.key", "is required")]),
        (spec(tls={"enabled": "yes"}), [(IPV, "spec.tls.enabled", "must be true or false")]),
        (
            spec(tags={f"k{i}": "v" for i in range(51)}),
            [(FaultCode.TAG_QUOTA_PER_RESOURCE_EXCEEDED, "spec.tags", "has 51 tags; a snapshot may have at most 50")],
        ),
        (spec(tags={"": "v"}), [(IPV, "spec.tags", "a key that is empty or longer than 128")]),
        (spec(tags={"team": "x" * 257}), [(IPV, "spec.tags.team", "spec.tags.team is longer than 256 characters")]),
        (
            spec(auth={"secretRef": {"name": "", "key": "password"}}),
            [(IPV, "spec.auth.secretRef.name", "spec.auth.secretRef.name is empty: give it a value")],
        ),
        (None, [(IPV, "spec", "spec is missing")]),
        ("snapshot", [(IPV, "spec", "spec is not a mapping of fields")]),
    ],
)
def test_each_broken_rule_is_reported_with_its_fault_field_and_message(
    bad: Any, expected: list[tuple[FaultCode, str, str]]
) -> None:
    violations = check_spec(bad)
    assert [(v.code, v.field) for v in violations] == [(code, field) for code, field, _ in expected]
    for violation, (_, _, text) in zip(violations, expected, strict=True):
        assert text in violation.message


def test_all_broken_rules_are_reported_not_just_the_first() -> None:
    violations = check_spec(spec(snapshotName="1a--b_-", cacheClusterId=..., port=0))
    messages = [v.message for v in violations]
    assert len(messages) == 6
    assert any("must begin with an ASCII letter" in m for m in messages)
    assert any("only ASCII letters, digits and hyphens" in m for m in messages)
    assert any("two consecutive hyphens" in m for m in messages)
    assert any("cannot end with a hyphen" in m for m in messages)
    assert any(
        "none of spec.cacheClusterId, spec.replicationGroupId and spec.sourceSnapshotName" in m for m in messages
    )
    assert any("spec.port must be a port number" in m for m in messages)


def test_every_message_says_what_to_do_after_naming_the_field() -> None:
    violations = check_spec(spec(snapshotName="1a--b_-", cacheClusterId=..., deletionPolicy="x", extra=1))
    for violation in violations:
        assert violation.field in violation.message or violation.field == "spec"
        assert ": " in violation.message
    assert str(violations[0]).startswith("InvalidParameterValue: spec.snapshotName ")


def test_a_second_backup_with_the_same_snapshot_name_in_the_namespace_already_exists() -> None:
    existing = [ExistingBackup(name="nightly", snapshot_name="BKUP-20150515")]
    violations = check_create(body(name="again"), existing, namespace="team-a")
    assert faults(violations) == [("SnapshotAlreadyExistsFault", "spec.snapshotName")]
    assert violations[0].message == (
        'spec.snapshotName "bkup-20150515" is already used by RedisBackup "nightly" in namespace "team-a" '
        "(snapshot names are unique per namespace, ignoring case): choose another snapshotName"
    )


def test_the_object_itself_is_not_a_duplicate_of_itself() -> None:
    assert check_unique(body(name="nightly"), [ExistingBackup(name="nightly", snapshot_name="bkup-20150515")]) == []


def test_a_backup_still_deleting_holds_its_name_and_the_message_says_so() -> None:
    existing = [ExistingBackup(name="old", snapshot_name="bkup-20150515", deleting=True)]
    (violation,) = check_create(body(name="new"), existing)
    assert violation.message.endswith('or wait until RedisBackup "old" has finished deleting')
    assert "this namespace" in violation.message


def test_uniqueness_is_not_checked_for_a_name_that_is_already_invalid() -> None:
    existing = [ExistingBackup(name="other", snapshot_name="bad_")]
    assert faults(check_create(body(snapshotName="bad_"), existing)) == [("InvalidParameterValue", "spec.snapshotName")]


def test_existing_backups_are_read_from_bodies_and_ordered_by_creation() -> None:
    first = ExistingBackup.from_body(
        {
            "metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z", "uid": "2"},
            "spec": {"snapshotName": "x"},
        }
    )
    second = ExistingBackup.from_body(
        {
            "metadata": {"name": "b", "creationTimestamp": "2026-01-01T00:00:01Z", "uid": "1"},
            "spec": {"snapshotName": "x"},
        }
    )
    assert first is not None
    assert second is not None
    assert first.created_before(second)
    assert not second.created_before(first)
    assert ExistingBackup.from_body({"metadata": {"name": "c"}, "spec": {}}) is None


def test_changing_the_snapshot_name_or_the_source_is_refused() -> None:
    old = body()
    new = body(snapshotName="other", cacheClusterId="mycluster-2")
    violations = check_update(old, new)
    assert faults(violations) == [
        ("InvalidParameterValue", "spec.snapshotName"),
        ("InvalidParameterValue", "spec.cacheClusterId"),
    ]
    assert violations[0].message.startswith("spec.snapshotName cannot be changed after the RedisBackup is created")


def test_adding_or_removing_an_optional_field_counts_as_a_change() -> None:
    assert faults(check_update(body(), body(port=6380))) == [("InvalidParameterValue", "spec.port")]
    assert faults(check_update(body(port=6380), body())) == [("InvalidParameterValue", "spec.port")]


def test_changing_the_deletion_policy_is_allowed_but_must_still_be_valid() -> None:
    assert check_update(body(), body(deletionPolicy="Retain")) == []
    assert faults(check_update(body(), body(deletionPolicy="Keep"))) == [
        ("InvalidParameterValue", "spec.deletionPolicy")
    ]


def test_tags_may_change_as_in_elasticache_but_within_its_rules() -> None:
    assert check_update(body(tags={"team": "a"}), body(tags={"team": "b", "env": "prod"})) == []
    assert check_update(body(), body(tags={"team": "a"})) == []
    assert check_update(body(tags={"team": "a"}), body()) == []
    assert faults(check_update(body(), body(tags={f"k{i}": "v" for i in range(51)}))) == [
        ("TagQuotaPerResourceExceeded", "spec.tags")
    ]


def test_tag_sets_are_checked_the_same_for_every_resource() -> None:
    assert check_tags({"team": "payments", "empty": ""}) == []
    assert faults(check_tags({f"k{i}": "v" for i in range(51)}, field="Tags")) == [
        ("TagQuotaPerResourceExceeded", "Tags")
    ]
    assert faults(check_tags({"": "v"})) == [("InvalidParameterValue", "spec.tags")]
    assert faults(check_tags({"k": "v" * 257})) == [("InvalidParameterValue", "spec.tags")]


def test_an_update_that_leaves_the_spec_alone_is_never_refused() -> None:
    # Finalizer removal of an object created under older, looser rules must always go through.
    legacy = body(snapshotName="legacy_name")
    updated = {**legacy, "metadata": {**legacy["metadata"], "finalizers": []}}
    assert check_update(legacy, updated) == []


def test_mixed_case_identifiers_get_a_warning_not_a_rejection() -> None:
    assert warnings(spec(cacheClusterId="myNonClusteredRedis-001")) == [
        'spec.cacheClusterId "myNonClusteredRedis-001" is case-insensitive, as in ElastiCache: the operator looks '
        'for "mynonclusteredredis-001"'
    ]
    assert warnings(spec()) == []


def test_of_two_racing_creates_the_reconciler_fails_only_the_later_one() -> None:
    def stored(name: str, created: str) -> dict[str, Any]:
        backup = body(name=name)
        backup["metadata"].update(creationTimestamp=created, uid=name)
        return backup

    first, second = stored("first", "2026-01-01T00:00:00Z"), stored("second", "2026-01-01T00:00:01Z")
    everyone = [b for b in map(ExistingBackup.from_body, (first, second)) if b is not None]
    assert check_admitted(first, everyone) == []
    assert faults(check_admitted(second, everyone)) == [("SnapshotAlreadyExistsFault", "spec.snapshotName")]


def test_the_reconciler_gets_one_typed_fault_with_every_message() -> None:
    from redisbackup.domain.admission import fault_for
    from redisbackup.domain.faults import ValidationFault

    assert fault_for([]) is None
    fault = fault_for(check_spec(spec(snapshotName="a--", cacheClusterId=...)))
    assert isinstance(fault, ValidationFault)
    assert fault.code == IPV
    assert fault.field == "spec.snapshotName"
    violations = check_spec(spec(snapshotName="a--", cacheClusterId=...))
    assert str(fault) == "; ".join(str(v) for v in violations)


@pytest.mark.parametrize(
    ("auth_or_tls", "field"),
    [
        ({"auth": {"secretRef": {"name": "other-team/redis", "key": "password"}}}, "spec.auth.secretRef.name"),
        ({"auth": {"secretRef": {"name": "../secrets/redis", "key": "password"}}}, "spec.auth.secretRef.name"),
        ({"auth": {"secretRef": {"name": "redis", "key": "pass/word"}}}, "spec.auth.secretRef.key"),
        ({"tls": {"certSecretRef": {"name": "Other/TLS"}}}, "spec.tls.certSecretRef.name"),
    ],
)
def test_a_secret_name_that_could_point_into_another_namespace_is_refused(
    auth_or_tls: dict[str, Any], field: str
) -> None:
    (violation,) = check_spec(spec(**auth_or_tls))
    assert (violation.code, violation.field) == (IPV, field)
    assert "RedisBackup's own namespace" in violation.message or "key of the Secret" in violation.message
