"""Admission of RedisBackupSchedules on the real apiserver: the webhook reports every broken rule with ElastiCache's
fault names; without it the CRD's schema and CEL rules still refuse what they can express, in the same words."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator, StartOperator
from redisbackup.api.schedule_spec import source_immutable_message, timing_both_message, window_empty_message
from tests.e2e.admission_cases import error_message

pytestmark = pytest.mark.e2e

GROUP, VERSION, PLURAL = "redisbackup.io", "v1alpha1", "redisbackupschedules"


def document(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RedisBackupSchedule", "metadata": {"name": name}, "spec": spec}


def apply(kube: Cluster, namespace: str, body: dict[str, Any], *, check: bool = True) -> Any:
    return kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(body), check=check)


def test_the_webhook_reports_every_broken_rule_with_its_field_and_elasticache_fault(
    kube: Cluster, kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    # What only the webhook knows: a cron field's range, whether a time zone exists; both reported at once.
    bad = document("bad", cacheClusterId="cache-001", schedule="0 25 * * *", timeZone="Mars/Olympus")
    result = apply(kube, namespace, bad, check=False)
    assert result.returncode != 0
    assert "InvalidParameterValue: spec.schedule '0 25 * * *' has a bad hour field" in result.stderr, result.stderr
    assert "InvalidParameterValue: spec.timeZone 'Mars/Olympus' is not a time zone of the IANA database" in (
        result.stderr
    )
    # The schema's ranges come first (the apiserver checks them before calling webhooks), every one listed.
    ranges = document("ranges", cacheClusterId="a", schedule="@daily", snapshotRetentionLimit=36, keepLast=0)
    result = apply(kube, namespace, ranges, check=False)
    assert "spec.snapshotRetentionLimit: Invalid value: 36" in result.stderr
    assert "spec.keepLast: Invalid value: 0" in result.stderr

    both = document("both", cacheClusterId="cache-001", schedule="@daily", snapshotWindow="05:00-09:00")
    result = apply(kube, namespace, both, check=False)
    assert f"InvalidParameterCombination: {timing_both_message()}" in result.stderr

    good = document("good", cacheClusterId="Cache-001", snapshotWindow="05:00-09:00", snapshotRetentionLimit=7)
    accepted = apply(kube, namespace, good)
    assert 'spec.cacheClusterId "Cache-001" is case-insensitive' in accepted.stderr, "the webhook's warning"
    good["spec"]["cacheClusterId"] = "other-001"
    moved = apply(kube, namespace, good, check=False)
    assert f"InvalidParameterValue: {source_immutable_message('cacheClusterId')}" in moved.stderr
    good["spec"] = {**good["spec"], "cacheClusterId": "Cache-001", "snapshotRetentionLimit": 14, "suspend": True}
    apply(kube, namespace, good)  # timing, retention and suspend can change


def test_without_the_webhook_the_crd_refuses_what_cel_can_express_in_the_same_words(
    kube: Cluster, kube_api: client.ApiClient, start_operator: StartOperator, namespace: str
) -> None:
    running = start_operator(namespaces=[namespace])
    running.stop()
    running.delete_configuration()
    objects = client.CustomObjectsApi(kube_api)
    cases = [
        (document("both", cacheClusterId="a", schedule="@daily", snapshotWindow="05:00-09:00"), timing_both_message()),
        (document("empty-window", cacheClusterId="a", snapshotWindow="05:00-05:00"), window_empty_message()),
        (document("six", cacheClusterId="a", schedule="0 0 3 * * *"), "spec.schedule must be 5 cron fields"),
        (document("n" * 64, cacheClusterId="a", schedule="@daily"), "metadata.name is longer than 63 characters"),
        (document("days", cacheClusterId="a", schedule="@daily", snapshotRetentionLimit=36), "35"),
    ]
    for body, fragment in cases:
        with pytest.raises(client.ApiException) as rejected:
            objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        assert rejected.value.status == 422, body["metadata"]["name"]
        assert fragment in error_message(rejected.value), error_message(rejected.value)
    objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, document("fine", cacheClusterId="a", schedule="*/15 * * * MON-FRI")
    )
    with pytest.raises(client.ApiException) as moved:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "fine", {"spec": {"replicationGroupId": "b", "cacheClusterId": None}}
        )
    assert source_immutable_message("cacheClusterId") in error_message(moved.value)
