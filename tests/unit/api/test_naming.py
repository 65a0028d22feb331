"""Table tests: each ElastiCache naming rule, alone and combined, for snapshot names and source identifiers."""

from __future__ import annotations

import datetime as dt

import pytest

from redisbackup.api import naming
from redisbackup.api.naming import (
    CACHE_CLUSTER_ID,
    NAMING_RULES,
    REPLICATION_GROUP_ID,
    SNAPSHOT_NAME,
    suggested_snapshot_name,
)

SNAPSHOT_NAME_CASES = [
    # value, broken rules (by key)
    ("bkup-20150515", set()),
    ("a", set()),
    ("A", set()),
    ("a1", set()),
    ("a-1", set()),
    ("a-b-c-d", set()),
    ("x" * 20, set()),
    ("", {"empty"}),
    ("x" * 21, {"too-long"}),
    ("1abc", {"first-character"}),
    ("-abc", {"first-character"}),
    ("é", {"first-character", "characters"}),
    ("aé", {"characters"}),
    ("a_b", {"characters"}),
    ("a.b", {"characters"}),
    ("a b", {"characters"}),
    ("a\n", {"characters"}),
    ("a\tb", {"characters"}),
    ("a٣", {"characters"}),  # Arabic-Indic digit three: str.isdigit() says True
    ("\uff41bc", {"first-character", "characters"}),  # fullwidth a
    ("a\uff11", {"characters"}),  # fullwidth 1
    ("a\uff0db", {"characters"}),  # fullwidth hyphen-minus
    ("a--b", {"consecutive-hyphens"}),
    ("a---b", {"consecutive-hyphens"}),
    ("a-", {"trailing-hyphen"}),
    ("-", {"first-character", "trailing-hyphen"}),
    ("--", {"first-character", "consecutive-hyphens", "trailing-hyphen"}),
    ("1a--b_-", {"first-character", "characters", "consecutive-hyphens", "trailing-hyphen"}),
    ("9" * 21 + "-", {"too-long", "first-character", "trailing-hyphen"}),
]


@pytest.mark.parametrize(("value", "broken"), SNAPSHOT_NAME_CASES)
def test_snapshot_name_reports_exactly_the_rules_it_breaks(value: str, broken: set[str]) -> None:
    assert {rule.key for rule in SNAPSHOT_NAME.broken_rules(value)} == broken
    assert SNAPSHOT_NAME.is_valid(value) == (not broken)


@pytest.mark.parametrize("kind", [CACHE_CLUSTER_ID, REPLICATION_GROUP_ID])
@pytest.mark.parametrize(
    ("value", "broken"),
    [
        ("myNonClusteredRedis-001", set()),
        ("mycluster-002", set()),
        ("x" * 50, set()),
        ("x" * 51, {"too-long"}),
        ("", {"empty"}),
        ("0001", {"first-character"}),
        ("my_cluster", {"characters"}),
        ("my--cluster", {"consecutive-hyphens"}),
        ("mycluster-", {"trailing-hyphen"}),
    ],
)
def test_source_identifiers_follow_the_same_rules_up_to_50_characters(
    kind: naming.NameKind, value: str, broken: set[str]
) -> None:
    assert {rule.key for rule in kind.broken_rules(value)} == broken


def test_every_rule_has_its_own_message_naming_the_field() -> None:
    for kind in (SNAPSHOT_NAME, CACHE_CLUSTER_ID, REPLICATION_GROUP_ID):
        messages = [kind.message(rule) for rule in NAMING_RULES]
        assert len(set(messages)) == len(NAMING_RULES)
        assert all(message.startswith(kind.field + " ") for message in messages)
        assert all(": " in message for message in messages), "each message says what to do after the colon"


def test_messages_give_the_limit_of_each_kind() -> None:
    too_long = next(rule for rule in NAMING_RULES if rule.key == "too-long")
    assert "20" in SNAPSHOT_NAME.message(too_long)
    assert "50" in CACHE_CLUSTER_ID.message(too_long)


def test_each_rule_has_a_cel_rule_with_the_same_message_prefixed_by_the_fault() -> None:
    cel = SNAPSHOT_NAME.cel_rules()
    assert [rule["message"] for rule in cel] == [
        f"InvalidParameterValue: {SNAPSHOT_NAME.message(rule)}" for rule in NAMING_RULES
    ]
    assert "size(self) <= 20" in [rule["rule"] for rule in cel]


def test_identifiers_resolve_in_lower_case_like_elasticache() -> None:
    assert naming.resolved_identifier("myNonClusteredRedis-001") == "mynonclusteredredis-001"


def test_snapshot_names_compare_without_case() -> None:
    assert naming.same_snapshot_name("Bkup-1", "bkup-1")
    assert not naming.same_snapshot_name("bkup-1", "bkup-2")


def test_the_seeds_cluster_and_date_make_the_suggested_name() -> None:
    when = dt.datetime(2015, 5, 15, 12, 30, tzinfo=dt.UTC)
    assert suggested_snapshot_name("myNonClusteredRedis-001", when) == "myNonClu-150515-1230"
    assert suggested_snapshot_name("shop", when) == "shop-150515-1230"
    assert suggested_snapshot_name("0cache--a", when) == "cache-a-150515-1230"
    assert suggested_snapshot_name("9", when) == "backup-150515-1230"


def test_the_browser_gets_every_rule_with_the_webhooks_message() -> None:
    served = SNAPSHOT_NAME.browser_rules()
    assert served["field"] == "spec.snapshotName"
    assert [rule["key"] for rule in served["rules"]] == [rule.key for rule in NAMING_RULES]
    messages = {rule["key"]: rule["message"] for rule in served["rules"]}
    assert messages["consecutive-hyphens"] == SNAPSHOT_NAME.message(NAMING_RULES[4])
    assert "cannot contain two consecutive hyphens" in messages["consecutive-hyphens"]
    too_long = next(rule for rule in served["rules"] if rule["key"] == "too-long")
    assert too_long["violation"] == r"^[\s\S]{20}[\s\S]"
