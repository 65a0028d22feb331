"""The RedisBackupSchedule API: the CRD generated from the models, the rules every face shares (every broken rule
reported, with the field and the rule), the time rules, and the names and ownership of automated backups."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from redisbackup.api import crd, naming
from redisbackup.api.schedule_spec import (
    schedule_no_source_message,
    schedule_sources_message,
    time_zone_with_window_message,
    timing_both_message,
    timing_none_message,
)
from redisbackup.api.schedule_validation import check_schedule_create, check_schedule_update, schedule_warnings
from redisbackup.domain.automated import (
    SCHEDULE_LABEL,
    automated_backup,
    automated_snapshot_name,
    belongs_to,
    matches_source_filter,
    recorded_snapshot_source,
    snapshot_source,
)
from redisbackup.domain.elasticache import snapshot_document_from_body
from redisbackup.domain.timetable import Timetable
from tests.unit.schedules.fakes import schedule

REPO = Path(__file__).resolve().parents[3]


def test_the_committed_schedule_crd_matches_the_models_in_both_copies() -> None:
    text = crd.render_crd(crd.SCHEDULE)
    for path in crd.SCHEDULE.paths:
        assert (REPO / path).read_text() == text, f"{path} is stale: run `make crds`"
    assert crd.main(["--check", "--root", str(REPO)]) == 0


def test_kubectl_sees_rbs_with_the_columns_the_issue_names() -> None:
    document = yaml.safe_load(crd.render_crd(crd.SCHEDULE))
    assert document["spec"]["names"]["shortNames"] == ["rbs"]
    (version,) = document["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if c.get("priority", 0) == 0]
    assert columns == ["Source", "Schedule", "Last", "Next", "Kept"]


def test_the_template_takes_the_connection_and_storage_fields_of_a_redisbackup_as_they_are() -> None:
    """spec.template.auth/tls/port/storage are RedisBackup's fields (one model, api.spec.SourceAccess): the same
    schema, descriptions and rules in both CRDs, so an automated backup accepts whatever its template accepted."""

    def spec_of(definition: crd.Definition) -> dict[str, Any]:
        (version,) = yaml.safe_load(crd.render_crd(definition))["spec"]["versions"]
        spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        return spec

    backup, template = spec_of(crd.REDISBACKUP)["properties"], spec_of(crd.SCHEDULE)["properties"]["template"]
    shared = ("auth", "tls", "port", "storage")
    assert {name: template["properties"][name] for name in shared} == {name: backup[name] for name in shared}


def _spec_rules(document: dict[str, Any]) -> list[dict[str, str]]:
    (version,) = document["spec"]["versions"]
    rules: list[dict[str, str]] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    return rules


def test_the_crds_cel_rules_say_what_the_webhook_says() -> None:
    messages = [rule["message"] for rule in _spec_rules(yaml.safe_load(crd.render_crd(crd.SCHEDULE)))]
    for message in (
        schedule_sources_message(),
        schedule_no_source_message(),
        timing_both_message(),
        timing_none_message(),
        time_zone_with_window_message(),
    ):
        assert f"InvalidParameterCombination: {message}" in messages
    both = check_schedule_create(
        {"metadata": {"name": "x"}, "spec": {"cacheClusterId": "a", "replicationGroupId": "b", "schedule": "@daily"}}
    )
    assert [str(v) for v in both] == [f"InvalidParameterCombination: {schedule_sources_message()}"]


def test_the_source_cannot_change_but_the_timing_and_retention_can() -> None:
    transitions = [r for r in _spec_rules(yaml.safe_load(crd.render_crd(crd.SCHEDULE))) if "oldSelf" in r["rule"]]
    assert [r["fieldPath"] for r in transitions] == [".cacheClusterId", ".replicationGroupId"]
    old = schedule(schedule="@daily", keepLast=3)
    changed = schedule(schedule="0 4 * * *", keepLast=5, suspend=True)
    assert check_schedule_update(old, changed) == []
    moved = schedule(schedule="@daily", keepLast=3)
    moved["spec"]["cacheClusterId"] = "other-0"
    (violation,) = check_schedule_update(old, moved)
    assert (violation.field, violation.code) == ("spec.cacheClusterId", "InvalidParameterValue")


def test_every_broken_rule_is_reported_with_its_field_and_fault() -> None:
    body = {
        "metadata": {"name": "n" * 64},
        "spec": {
            "cacheClusterId": "bad--name-",
            "replicationGroupId": "Group",
            "schedule": "0 24 * * *",
            "snapshotWindow": "09:00-09:00",
            "timeZone": "Europe/Nowhere",
            "keepLast": 0,
            "snapshotRetentionLimit": 36,
            "startingDeadlineSeconds": 0,
            "template": {"port": 70000, "storage": "Not_A_Location", "tags": {"": "v"}, "deletionPolicy": "Keep"},
        },
    }
    found = {(v.field, str(v.code)) for v in check_schedule_create(body)}
    assert found >= {
        ("metadata.name", "InvalidParameterValue"),
        ("spec.cacheClusterId", "InvalidParameterValue"),
        ("spec", "InvalidParameterCombination"),
        ("spec.timeZone", "InvalidParameterCombination"),
        ("spec.schedule", "InvalidParameterValue"),
        ("spec.snapshotWindow", "InvalidParameterValue"),
        ("spec.timeZone", "InvalidParameterValue"),
        ("spec.keepLast", "InvalidParameterValue"),
        ("spec.snapshotRetentionLimit", "InvalidParameterValue"),
        ("spec.startingDeadlineSeconds", "InvalidParameterValue"),
        ("spec.template.port", "InvalidParameterValue"),
        ("spec.template.storage", "InvalidParameterValue"),
        ("spec.template.tags", "InvalidParameterValue"),
        ("spec.template.deletionPolicy", "InvalidParameterValue"),
    }
    messages = " | ".join(str(v) for v in check_schedule_create(body))
    assert "bad hour field" in messages
    assert "0 to 35" in messages
    assert "consecutive hyphens" in messages


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("* * * *", "has 4 field(s)"),
        ("* * * * * *", "has 6 field(s)"),
        ("61 * * * *", "bad minute field"),
        ("* * 0 * *", "bad day-of-month field"),
        ("* * * 13 *", "bad month field"),
        ("@reboot", "not a macro we know"),
        ("*  * * * *", "single spaces"),
    ],
)
def test_a_bad_cron_expression_names_the_field_at_fault(expression: str, problem: str) -> None:
    (violation,) = check_schedule_create({"metadata": {}, "spec": {"cacheClusterId": "a", "schedule": expression}})
    assert violation.field == "spec.schedule"
    assert problem in violation.message


@pytest.mark.parametrize("expression", ["@daily", "@hourly", "0 3 * * *", "*/15 9-17 * * MON-FRI", "0 0 1,15 * *"])
def test_good_cron_expressions_pass_the_webhook_and_the_crds_shape(expression: str) -> None:
    assert check_schedule_create({"metadata": {}, "spec": {"cacheClusterId": "a", "schedule": expression}}) == []
    (shape,) = _spec_rules_of_field("schedule")
    pattern = re.search(r"matches\('(.*)'\)", shape["rule"])
    assert pattern is not None
    assert re.fullmatch(pattern[1], expression)


def _spec_rules_of_field(field: str) -> list[dict[str, str]]:
    (version,) = yaml.safe_load(crd.render_crd(crd.SCHEDULE))["spec"]["versions"]
    rules: list[dict[str, str]] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"][field][
        "x-kubernetes-validations"
    ]
    return rules


def test_warnings_say_when_nothing_limits_retention_and_that_zero_turns_backups_off() -> None:
    assert any("kept until the schedule is deleted" in w for w in schedule_warnings({"cacheClusterId": "a"}))
    assert any("turns automatic backups off" in w for w in schedule_warnings({"snapshotRetentionLimit": 0}))
    assert schedule_warnings({"cacheClusterId": "a", "keepLast": 2}) == []


# ---------------------------------------------------------------------------------------------- time
def test_a_time_zone_schedule_follows_daylight_saving_as_debian_cron() -> None:
    berlin = Timetable.of({"schedule": "30 2 * * *", "timeZone": "Europe/Berlin"}, "u")
    # 2026-03-29: 02:30 does not exist in Berlin (clocks jump 02:00 → 03:00): the run is at 03:00 CEST, once.
    runs = []
    moment = dt.datetime(2026, 3, 27, 12, tzinfo=dt.UTC)
    for _ in range(4):
        moment = berlin.next_after(moment)
        runs.append(moment.strftime("%m-%d %H:%M"))
    assert runs == ["03-28 01:30", "03-29 01:00", "03-30 00:30", "03-31 00:30"]


@pytest.mark.parametrize(
    ("zone", "expression", "start", "expected"),
    [
        # Fall-back in Berlin (2026-10-25, 03:00 CEST → 02:00 CET): a fixed 02:30 runs once, in the first 02:30 ...
        ("Europe/Berlin", "30 2 * * *", (2026, 10, 24, 12), ["10-25 00:30", "10-26 01:30"]),
        # ... while a wildcard hour runs in both occurrences of the repeated hour, as Debian's cron does.
        (
            "Europe/Berlin",
            "0 * * * *",
            (2026, 10, 24, 23),
            ["10-25 00:00", "10-25 01:00", "10-25 02:00", "10-25 03:00"],
        ),
        (
            "Europe/Berlin",
            "*/30 * * * *",
            (2026, 10, 25, 0),
            ["10-25 00:30", "10-25 01:00", "10-25 01:30", "10-25 02:00"],
        ),
        # Spring-forward in New York (2026-03-08, 02:00 EST → 03:00 EDT): 02:30 does not exist, it runs at 03:00.
        ("America/New_York", "30 2 * * *", (2026, 3, 7, 12), ["03-08 07:00", "03-09 06:30"]),
        ("America/New_York", "0 * * * *", (2026, 3, 8, 5), ["03-08 06:00", "03-08 07:00", "03-08 08:00"]),
        # Lord Howe Island moves its clocks by half an hour (2026-04-05, 02:00 → 01:30): 01:45 runs once.
        ("Australia/Lord_Howe", "45 1 * * *", (2026, 4, 4, 0), ["04-04 14:45", "04-05 15:15"]),
    ],
)
def test_the_daemon_runs_each_slot_of_a_dst_change_once_missing_none(
    zone: str, expression: str, start: tuple[int, ...], expected: list[str]
) -> None:
    """What the daemon does across a daylight-saving change: wake at the next slot, run what is due, repeat. Every
    slot the timetable announces (status.nextScheduleTime) runs, once, including those of a repeated hour."""
    table = Timetable.of({"schedule": expression, "timeZone": zone}, "u")
    handled = now = dt.datetime(*start, tzinfo=dt.UTC)  # type: ignore[arg-type]
    runs = []
    for _ in expected:
        announced = table.next_after(now)
        now = announced + dt.timedelta(seconds=1)
        due = table.due(now, handled)
        assert due is not None
        assert (due.slot, due.skipped) == (announced, 0)
        assert table.due(now, due.slot) is None, "handled: not due again"
        handled = due.slot
        runs.append(due.slot.strftime("%m-%d %H:%M"))
    assert runs == expected


def test_the_alerts_interval_spans_a_weekday_schedules_weekend_so_only_two_missed_runs_alert() -> None:
    """The PrometheusRule fires when seconds since the last success exceed twice the interval."""
    weekdays = Timetable.of({"schedule": "0 3 * * 1-5"}, "u")
    friday = dt.datetime(2026, 12, 4, 3, 0, tzinfo=dt.UTC)  # the last success

    def alerts(now: dt.datetime) -> bool:
        return now - friday > 2 * weekdays.interval(now)

    assert weekdays.interval(dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)) == dt.timedelta(days=3), "over the weekend"
    assert not alerts(dt.datetime(2026, 12, 6, 23, 59, tzinfo=dt.UTC)), "Sunday: no run was missed"
    assert not alerts(dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)), "Monday's run failed: one missed run"
    assert alerts(dt.datetime(2026, 12, 8, 12, tzinfo=dt.UTC)), "Tuesday's failed too: two missed runs"
    assert Timetable.of({"schedule": "*/5 * * * *"}, "u").interval(friday) == dt.timedelta(minutes=5)


def test_the_start_inside_a_window_is_stable_per_schedule_and_differs_between_schedules() -> None:
    starts = set()
    for uid in (f"uid-{i}" for i in range(20)):
        table = Timetable.of({"snapshotWindow": "23:00-01:00"}, uid)
        assert table == Timetable.of({"snapshotWindow": "23:00-01:00"}, uid)
        first = table.next_after(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC))
        minutes = (first.hour * 60 + first.minute - 23 * 60) % (24 * 60)
        assert 0 <= minutes < 120, "the start lies inside the window, which runs past midnight"
        assert table.deadline == dt.timedelta(minutes=120 - minutes), "a late start is allowed until the window closes"
        starts.add(minutes)
    assert len(starts) > 10


# ---------------------------------------------------------------------------------------------- automated backups
def test_automated_names_are_valid_snapshot_and_kubernetes_names_stable_sortable_and_per_schedule() -> None:
    slot = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    name = automated_snapshot_name("myNonClusteredRedis", "uid-a", slot)
    assert name == automated_snapshot_name("myNonClusteredRedis", "uid-a", slot)
    assert name.startswith("myno")
    assert name.endswith("-202612070300")
    assert naming.SNAPSHOT_NAME.is_valid(name)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), "a lower-case Kubernetes name"
    later = automated_snapshot_name("myNonClusteredRedis", "uid-a", slot + dt.timedelta(minutes=1))
    assert sorted([later, name]) == [name, later]
    assert automated_snapshot_name("myNonClusteredRedis", "uid-b", slot) != name
    assert naming.SNAPSHOT_NAME.is_valid(automated_snapshot_name("a", "u", slot))


def test_automated_means_owned_by_a_schedule_and_labelled_with_its_name_and_the_operators_word_counts() -> None:
    body = automated_backup(schedule(schedule="@daily"), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert snapshot_source(body) == "automated"
    assert belongs_to(body, "nightly", "sched-uid-1")
    assert not belongs_to(body, "nightly", "another-uid")
    relabelled = {**body, "metadata": {**body["metadata"], "labels": {SCHEDULE_LABEL: "other"}}}
    assert snapshot_source(relabelled) == "manual"
    orphan = {**body, "metadata": {**body["metadata"], "ownerReferences": []}}
    assert snapshot_source(orphan) == "manual"
    # Once the operator recorded it, a later edit of the metadata does not change what the faces show.
    recorded = {**orphan, "status": {"snapshotSource": "automated"}}
    assert recorded_snapshot_source(recorded) == "automated"
    assert matches_source_filter(recorded, "system")
    assert not matches_source_filter(recorded, "user")
    assert matches_source_filter(recorded, None)
    manual_recorded = {**body, "status": {"snapshotSource": "manual"}}
    assert not belongs_to(manual_recorded, "nightly", "sched-uid-1"), "retention never takes a manual backup"


def test_elasticache_shows_an_automated_snapshot_with_its_schedules_retention_and_window() -> None:
    body = automated_backup(
        schedule(snapshotWindow="05:00-09:00", snapshotRetentionLimit=7), dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC)
    )
    snapshot = snapshot_document_from_body(body)["Snapshot"]
    assert (snapshot["SnapshotSource"], snapshot["SnapshotRetentionLimit"], snapshot["SnapshotWindow"]) == (
        "automated",
        7,
        "05:00-09:00",
    )
    manual = snapshot_document_from_body({"metadata": {"name": "m"}, "spec": {"snapshotName": "m"}})["Snapshot"]
    assert (manual["SnapshotSource"], manual["SnapshotRetentionLimit"]) == ("manual", 0)
    assert "SnapshotWindow" not in manual
