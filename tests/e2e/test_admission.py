"""Admission on the real apiserver: the CRD's schema and CEL rules, and the operator's webhook behind them."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator, StartOperator
from redisbackup.api.naming import SNAPSHOT_NAME
from tests.e2e.admission_cases import BAD, create, error_message, manifest, names_in, patch_spec, redisbackup

pytestmark = pytest.mark.e2e


def test_bad_manifests_are_rejected_with_elasticache_faults_while_the_webhook_runs(
    kube: Cluster, kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    for name, spec, fragments in BAD:
        result = kube.kubectl("apply", "-n", namespace, "-f", "-", input=manifest(name, **spec), check=False)
        assert result.returncode != 0, f"{name} was accepted"
        for fragment in fragments:
            assert fragment in result.stderr, f"{name}: {result.stderr}"
    assert names_in(kube_api, namespace) == [], "a rejected RedisBackup must leave nothing behind"


def test_with_the_webhook_stopped_the_schema_and_cel_rules_still_reject_with_422(
    kube: Cluster, kube_api: client.ApiClient, start_operator: StartOperator, namespace: str
) -> None:
    running = start_operator(namespaces=[namespace])
    create(kube_api, namespace, redisbackup("before-outage", snapshotName="kept", cacheClusterId="mycluster"))
    running.stop()  # its ValidatingWebhookConfiguration stays: the webhook is down, not uninstalled

    for name, spec, fragments in BAD:
        with pytest.raises(client.ApiException) as rejected:
            create(kube_api, namespace, redisbackup(name, **spec))
        assert rejected.value.status == 422, name
        assert "Invalid value" in error_message(rejected.value) or "Too long" in error_message(rejected.value)
        for fragment in fragments:
            assert fragment in error_message(rejected.value), name

    # A valid object cannot slip past the unreachable webhook (failurePolicy: Fail) …
    valid = manifest("valid", snapshotName="valid", cacheClusterId="mycluster")
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=valid, check=False)
    assert refused.returncode != 0
    assert 'failed calling webhook "vredisbackup.redisbackup.io"' in refused.stderr
    # … but metadata-only updates (labels, the operator's finalizers) never wait for the webhook.
    kube.kubectl("label", "-n", namespace, "redisbackup/before-outage", "team=payments")

    running.delete_configuration()  # uninstalled: only the CRD's own rules remain
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=valid)
    assert names_in(kube_api, namespace) == ["before-outage", "valid"]


def test_a_second_backup_with_a_taken_snapshot_name_is_rejected(
    kube: Cluster, kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    kube.kubectl(
        "apply", "-n", namespace, "-f", "-", input=manifest("first", snapshotName="bkup-1", cacheClusterId="a")
    )
    second = manifest("second", snapshotName="BKUP-1", replicationGroupId="b")
    result = kube.kubectl("apply", "-n", namespace, "-f", "-", input=second, check=False)
    assert result.returncode != 0
    assert 'admission webhook "vredisbackup.redisbackup.io" denied the request' in result.stderr
    assert (
        f'SnapshotAlreadyExistsFault: spec.snapshotName "BKUP-1" is already used by RedisBackup "first" in '
        f'namespace "{namespace}"'
    ) in result.stderr
    with pytest.raises(client.ApiException) as conflict:
        create(kube_api, namespace, redisbackup("third", snapshotName="bkup-1", cacheClusterId="a"))
    assert conflict.value.status == 409
    assert names_in(kube_api, namespace) == ["first"]


def test_the_apiserver_itself_refuses_to_change_the_snapshot_name_but_allows_the_deletion_policy(
    kube_api: client.ApiClient, redisbackup_crd: str, namespace: str
) -> None:
    # No operator serves this namespace: what is enforced here is the CRD's CEL transition rules alone.
    create(kube_api, namespace, redisbackup("nightly", snapshotName="bkup-20150515", cacheClusterId="mycluster"))
    changes: list[tuple[dict[str, Any], str]] = [({"snapshotName": "other"}, "snapshotName"), ({"port": 6380}, "port")]
    for change, field in changes:
        with pytest.raises(client.ApiException) as rejected:
            patch_spec(kube_api, namespace, "nightly", change)
        assert rejected.value.status == 422
        assert (
            f"InvalidParameterValue: spec.{field} cannot be changed after the RedisBackup is created"
            in error_message(rejected.value)
        )
    patched: Any = patch_spec(kube_api, namespace, "nightly", {"deletionPolicy": "Retain"})
    assert patched["spec"]["deletionPolicy"] == "Retain"
    assert patched["spec"]["snapshotName"] == "bkup-20150515"


def test_with_the_webhook_running_only_the_deletion_policy_can_change(
    kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    create(kube_api, namespace, redisbackup("nightly", snapshotName="bkup-20150515", cacheClusterId="mycluster"))
    with pytest.raises(client.ApiException) as rejected:
        patch_spec(kube_api, namespace, "nightly", {"snapshotName": "other"})
    assert rejected.value.status == 422
    patched: Any = patch_spec(kube_api, namespace, "nightly", {"deletionPolicy": "Retain"})
    assert patched["spec"]["deletionPolicy"] == "Retain"


TRICKY_NAMES = [
    "a", "A", "a1", "a-1", "x" * 20, "bkup-20150515", "Z-9-z",
    "", "1", "-", "a-", "-a", "a--b", "a_b", "a.b", "a b", " a", "a ", "a\n", "a\t", "\na",
    "é", "aé", "ß", "a٣", "a१", "\uff41", "a\uff11", "a\uff0db", "a\u200b", "a\u00a0", "İ", "ǅ",
    "a" * 19 + "-", "-" * 20, "a-" * 10,
]  # fmt: skip


def test_the_crd_rules_accept_exactly_the_names_the_python_rules_accept(
    kube_api: client.ApiClient, redisbackup_crd: str, namespace: str
) -> None:
    for name in TRICKY_NAMES:
        body = redisbackup("probe", snapshotName=name, cacheClusterId="mycluster")
        expected = [
            f"InvalidParameterValue: {SNAPSHOT_NAME.message(rule)}" for rule in SNAPSHOT_NAME.broken_rules(name)
        ]
        rejection = _dry_run_rejection(kube_api, namespace, body)
        if expected:
            assert rejection is not None, f"{name!r} is invalid for Python ({expected}) but the apiserver accepted it"
            for message in expected:
                assert message in rejection, f"{name!r}: {rejection}"
        else:
            assert rejection is None, f"{name!r} is valid for Python but the apiserver said: {rejection}"


def _dry_run_rejection(kube_api: client.ApiClient, namespace: str, body: dict[str, Any]) -> str | None:
    try:
        create(kube_api, namespace, body, dry_run=True)
    except client.ApiException as error:
        return error_message(error)
    return None
