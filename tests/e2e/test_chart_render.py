"""The chart as rendered: helm lint, the plain manifests in sync, server-side dry-run on the real apiserver, the RBAC
audit, the restricted Pod Security profile, and the config and webhook configuration the operator agrees with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import binaries, manifests
from devstack.cluster import Cluster
from devstack.image import image_config
from redisbackup.cli.config_file import parse_config
from redisbackup.domain.final_snapshot import FINAL_SNAPSHOT_RESULT_ANNOTATION
from redisbackup.k8s import locks
from redisbackup.k8s.webhook_configuration import build_configuration
from redisbackup.servers.webhook import ServiceRef, WebhookOptions
from tests.e2e.chart_support import audit, dry_run, helm, objects, one, operator_rules, render

pytestmark = pytest.mark.e2e

S3 = {"bucket": "redis-snapshots", "prefix": "prod", "region": "eu-west-1", "existingSecret": "s3-credentials"}
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-s3": {
        "watchNamespaces": ["team-a", "team-b"],
        "storage": {"defaultLocation": "archive", "locations": {"embedded": None, "archive": {"s3": S3}}},
    },
    "ha-cert-manager": {
        "replicaCount": 2,
        "webhook": {"certManager": {"enabled": True}},
        "storage": {"defaultLocation": "archive", "locations": {"embedded": None, "archive": {"s3": S3}}},
        "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    },
    "ha-existing-secret": {
        "replicaCount": 3,
        "webhook": {"existingSecret": "webhook-tls"},
        "rbac": {"secretNamespaces": ["redis"]},
        "storage": {
            "locations": {"embedded": {"file": {"path": "/data", "persistence": {"accessModes": ["ReadWriteMany"]}}}}
        },
    },
    "no-webhook": {"webhook": {"enabled": False}, "logLevel": "debug", "extraArgs": ["--verbose"]},
    "ha-shared-ca": {
        "replicaCount": 2,
        "storage": {
            "locations": {"embedded": {"file": {"path": "/d", "persistence": {"accessModes": ["ReadWriteMany"]}}}}
        },
    },
}


def lint(*args: str) -> str:
    import subprocess

    argv = [str(binaries.tool("helm")), "lint", str(manifests.CHART), "--kube-version", manifests.KUBE_VERSION, *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_strict_passes(variant: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VARIANTS[variant]))
    assert "0 chart(s) failed" in lint("--strict", "-f", str(values))


def test_the_plain_manifests_are_the_chart_with_its_defaults() -> None:
    assert manifests.main(["--check"]) == 0, "run `make manifests` and commit manifests/install.yaml"


@pytest.mark.parametrize("variant", ["defaults", "namespaced-s3", "ha-existing-secret", "no-webhook"])
def test_the_apiserver_accepts_every_object_in_a_server_side_dry_run(
    variant: str, kube: Cluster, tmp_path: Path
) -> None:
    docs = render(VARIANTS[variant], tmp_path)
    values = VARIANTS[variant]
    for namespace in {"ops", *values.get("watchNamespaces", []), *values.get("rbac", {}).get("secretNamespaces", [])}:
        kube.kubectl("create", "namespace", namespace, check=False)
    result = dry_run(kube, docs)
    assert result.returncode == 0, result.stderr
    others = [doc for doc in docs if doc["kind"] != "CustomResourceDefinition"]
    assert len(result.stdout.strip().splitlines()) == len(others)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_operators_rbac_passes_the_least_privilege_audit(variant: str, tmp_path: Path) -> None:
    docs = render(VARIANTS[variant], tmp_path)
    assert audit(docs) == []
    assert operator_rules(docs), "the operator is bound to some rules"


def test_the_audit_catches_what_it_must() -> None:
    role = {"kind": "ClusterRole", "metadata": {"name": "r"}}
    binding = {
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "r"},
        "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "rb-redisbackup", "namespace": "ops"}],
    }
    bad_rules = [
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
        {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]},
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations"],
            "verbs": ["create"],
        },
    ]
    for rule in bad_rules:
        assert audit([{**role, "rules": [rule]}, binding]), rule


def test_with_watch_namespaces_the_operator_has_no_cluster_wide_access_to_workloads(tmp_path: Path) -> None:
    docs = render(VARIANTS["namespaced-s3"], tmp_path)
    cluster_resources = {
        resource
        for where, rule in operator_rules(docs)
        if where.startswith("ClusterRole")
        for resource in rule["resources"]
    }
    assert cluster_resources == {"customresourcedefinitions", "namespaces", "validatingwebhookconfigurations"}
    roles = {(doc["metadata"]["namespace"], doc["metadata"]["name"]) for doc in objects(docs, "Role")}
    assert roles == {
        ("team-a", "rb-redisbackup"),
        ("team-b", "rb-redisbackup"),
        ("ops", "rb-redisbackup-webhook-ca"),  # the one Secret it writes: the webhook CA in its own namespace
        ("team-a", "rb-redisbackup-secrets"),
        ("team-b", "rb-redisbackup-secrets"),
    }


def test_the_pod_meets_the_restricted_pod_security_standard_and_runs_the_images_command(tmp_path: Path) -> None:
    for variant in VARIANTS:
        pod = one(render(VARIANTS[variant], tmp_path), "Deployment")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        context, pod_context = container["securityContext"], pod["securityContext"]
        assert pod_context["runAsNonRoot"] is True
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], "the one writable path"
        assert not any("hostPath" in volume for volume in pod["volumes"])
        argv = image_config().argv(container)
        assert argv[:4] == ["tini", "--", "redisbackup", "operator"], variant


def test_the_rendered_configuration_is_what_the_operator_accepts(tmp_path: Path) -> None:
    for variant in VARIANTS:
        docs = render(VARIANTS[variant], tmp_path)
        config = parse_config(one(docs, "ConfigMap")["data"]["config.yaml"], source=variant)
        (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
        mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
        for _name, location in config.storage.locations.items():
            wanted = (
                location.file.path
                if location.file
                else (location.s3.credentials.directory if location.s3 and location.s3.credentials else None)
            )
            if wanted:
                assert wanted in mounts, f"{variant}: {wanted} is not mounted"


@pytest.mark.parametrize("variant", ["defaults", "namespaced-s3"])
def test_the_charts_webhook_configuration_is_the_one_the_operator_writes(variant: str, tmp_path: Path) -> None:
    docs = render(VARIANTS[variant], tmp_path)
    rendered = one(docs, "ValidatingWebhookConfiguration")
    options = WebhookOptions(service=ServiceRef("ops", "rb-redisbackup-webhook", 443))
    written = build_configuration(
        rendered["metadata"]["name"],
        options.client_config("validate-redisbackup", None),
        timeout_seconds=options.timeout_seconds,  # the operator's default: the chart's must agree
        namespaces=tuple(VARIANTS[variant].get("watchNamespaces", ())),
    )
    assert rendered["webhooks"] == written["webhooks"], "helm upgrade would fight the operator over it"
    env = {
        e["name"]: e.get("value") for e in one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["REDISBACKUP_WEBHOOK_CONFIGURATION"] == rendered["metadata"]["name"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"storage": {"defaultLocation": "archive"}}, 'storage.defaultLocation "archive" is not one of'),
        ({"replicaCount": 2, "webhook": {"existingSecret": "x"}}, "use accessModes [ReadWriteMany]"),
        ({"webhook": {"existingSecret": "x", "certManager": {"enabled": True}}}, "keep one source"),
    ],
)
def test_unsafe_values_are_refused_with_what_to_do(
    values: dict[str, Any], message: str, kube: Cluster, tmp_path: Path
) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm(
        kube, "template", "rb", str(manifests.CHART), "--kube-version", "1.36.3", "-f", str(path), check=False
    )
    assert result.returncode != 0
    assert message in result.stderr


def claim_annotations(values: dict[str, Any], tmp_path: Path) -> dict[str, dict[str, str]]:
    """The rendered PersistentVolumeClaims' annotations, by storage location."""
    claims = objects(render(values, tmp_path), "PersistentVolumeClaim")
    return {
        c["metadata"]["labels"]["redisbackup.io/storage-location"]: c["metadata"].get("annotations") or {}
        for c in claims
    }


def test_helm_uninstall_keeps_a_file_locations_claim_unless_told_otherwise(tmp_path: Path) -> None:
    keep = {"helm.sh/resource-policy": "keep"}
    assert claim_annotations({}, tmp_path) == {"embedded": keep}, "the default keeps the embedded backups"
    scratch = {
        "file": {"path": "/scratch", "persistence": {"enabled": True, "size": "1Gi", "annotations": {"team": "a"}}}
    }
    assert claim_annotations({"storage": {"locations": {"scratch": scratch}}}, tmp_path) == {
        "embedded": keep,
        "scratch": {**keep, "team": "a"},
    }, "a location of the user's, without the value, is kept too, with its own annotations"
    opted_out = {"storage": {"locations": {"embedded": {"file": {"persistence": {"keepOnUninstall": False}}}}}}
    assert claim_annotations(opted_out, tmp_path) == {"embedded": {}}
    existing = {"storage": {"locations": {"embedded": {"file": {"persistence": {"existingClaim": "mine"}}}}}}
    assert claim_annotations(existing, tmp_path) == {}, "a claim the user brings is not the chart's"


def test_keep_on_uninstall_must_be_a_boolean(kube: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(
        yaml.safe_dump({"storage": {"locations": {"embedded": {"file": {"persistence": {"keepOnUninstall": "no"}}}}}})
    )
    result = helm(kube, "template", "rb", str(manifests.CHART), "-f", str(path), check=False)
    assert result.returncode != 0
    assert "keepOnUninstall" in result.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_upgrades_roll_without_the_webhook_going_away(variant: str, tmp_path: Path) -> None:
    """A new Pod starts before the old one stops (peering keeps one active), every Pod's certificate comes from one
    CA (shared through the chart's Secret unless cert-manager or a Secret of the user's gives them), and a stopping
    Pod keeps serving while it leaves the endpoints."""
    docs = render(VARIANTS[variant], tmp_path)
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["REDISBACKUP_PRIORITY"] == "random"
    webhook = VARIANTS[variant].get("webhook", {})
    if webhook.get("enabled", True):
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    shared = webhook.get("enabled", True) and not webhook.get("existingSecret") and not webhook.get("certManager")
    secrets = [doc for doc in objects(docs, "Secret") if doc["metadata"]["name"].endswith("-webhook-ca")]
    if shared:
        (secret,) = secrets
        assert "data" not in secret, "the operator fills it; helm never overwrites what it wrote"
        assert env["REDISBACKUP_WEBHOOK_CA_SECRET"] == f"$(POD_NAMESPACE)/{secret['metadata']['name']}"
    else:
        assert secrets == []
        assert "REDISBACKUP_WEBHOOK_CA_SECRET" not in env


def test_without_peering_the_operator_is_recreated_never_run_twice(tmp_path: Path) -> None:
    deployment = one(render({"peering": {"enabled": False}}, tmp_path), "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_the_snapshots_volume_is_not_chowned_again_at_every_start(tmp_path: Path) -> None:
    pod = one(render({}, tmp_path), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert pod["securityContext"]["fsGroup"] == 65532


@pytest.mark.parametrize(("address", "listen"), [("", ":9443"), ("::", "[::]:9443"), ("0.0.0.0", "0.0.0.0:9443")])
def test_the_endpoints_listen_on_every_address_of_both_families_by_default(
    address: str, listen: str, tmp_path: Path
) -> None:
    """An IPv6-only cluster reaches Pods over IPv6 only: binding 0.0.0.0 left the webhook, metrics and probes
    unreachable there. Empty (the default): every address, IPv4 and IPv6."""
    docs = render({"listenAddress": address} if address else {}, tmp_path)
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["REDISBACKUP_WEBHOOK_LISTEN"]["value"] == listen
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    config = parse_config(one(docs, "ConfigMap")["data"]["config.yaml"], source="chart")
    assert (config.metrics.host, config.health.host) == (address, address)


def test_the_prometheus_rule_alerts_on_the_schedule_metrics_the_operator_exports(tmp_path: Path) -> None:
    import datetime as dt
    import re

    from prometheus_client import generate_latest

    from redisbackup.servers.metrics import Metrics

    assert objects(render({}, tmp_path), "PrometheusRule") == [], "off by default: it needs the Prometheus Operator"
    values = {"metrics": {"prometheusRule": {"enabled": True, "intervalFactor": 3, "labels": {"release": "prom"}}}}
    rule = one(render(values, tmp_path), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    (alert,) = rule["spec"]["groups"][0]["rules"]
    assert alert["expr"] == (
        "redisbackup_schedule_seconds_since_last_success > 3 * redisbackup_schedule_interval_seconds"
    )
    metrics = Metrics()
    metrics.schedules.observe("team", "nightly", last_success=dt.datetime.now(dt.UTC), interval_seconds=60)
    exported = set(re.findall(r"^(redisbackup_schedule_\w+)\{", generate_latest(metrics.registry).decode(), re.M))
    assert set(re.findall(r"redisbackup_\w+", alert["expr"])) <= exported
    assert "{{ $labels.schedule }}" in alert["annotations"]["summary"], "Prometheus' template survives helm's"


def test_the_operator_may_only_watch_workloads_and_set_its_own_finalizer_and_annotations_on_them(
    kube: Cluster, namespace: str
) -> None:
    """The chart's RBAC and ValidatingAdmissionPolicy on the real apiserver, for the operator's ServiceAccount
    (impersonated): final snapshots need watch and the finalizer; anything else on a workload is refused."""
    import json
    import time

    release = f"vap-{namespace[-5:]}"
    text = manifests.helm_template(namespace=namespace, release=release)
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy"}
    wanted = [
        doc
        for doc in yaml.safe_load_all(text)
        if doc and (doc["kind"] in kinds or doc["kind"] == "ValidatingAdmissionPolicyBinding")
    ]
    applied = yaml.safe_dump_all(wanted)
    kube.kubectl("apply", "-f", "-", input=applied)
    try:
        account = one(wanted, "ServiceAccount")["metadata"]["name"]
        who = f"--as=system:serviceaccount:{namespace}:{account}"
        for verb, resource, *sub in (
            ("watch", "pods"),
            ("watch", "statefulsets.apps"),
            ("update", "pods", "finalizers"),
        ):
            extra = [f"--subresource={sub[0]}"] if sub else []
            assert kube.kubectl("auth", "can-i", verb, resource, *extra, who, "-n", namespace).stdout.strip() == "yes"
        assert kube.kubectl("auth", "can-i", "update", "pods", who, "-n", namespace, check=False).stdout.strip() == "no"
        kube.kubectl(
            "create", "-n", namespace, "-f", "-",
            input=yaml.safe_dump({
                "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "cache", "labels": {"a": "b"}},
                "spec": {"replicas": 0, "serviceName": "cache", "selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}},
                                      "spec": {"containers": [{"name": "redis", "image": "redis"}]}}},
            }),
        )  # fmt: skip

        def patch(change: dict[str, object]) -> tuple[int, str]:
            result = kube.kubectl(
                "patch", "statefulset", "cache", "-n", namespace, who, "--type=merge", "-p", json.dumps(change),
                check=False,
            )  # fmt: skip
            return result.returncode, result.stderr

        foreign = {"metadata": {"finalizers": ["example.com/other"]}}
        deadline = time.monotonic() + 60
        while patch(foreign)[0] == 0:  # the policy takes a moment to be enforced after it is created
            kube.kubectl("patch", "statefulset", "cache", "-n", namespace, "--type=json", "-p",
                         '[{"op": "remove", "path": "/metadata/finalizers"}]')  # fmt: skip
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy was never enforced"
            time.sleep(1)
        code, refusal = patch(foreign)
        assert code != 0
        assert "may only add or remove its own finalizer redisbackup.io/final-snapshot" in refusal
        assert patch({"metadata": {"labels": {"a": "c"}}})[0] != 0
        # Every annotation the operator writes on a workload, from the modules that write them: a hold's three
        # (k8s.locks) and a final snapshot's result. A new one the policy does not list fails here, not in a demo.
        written = {locks.ANNOTATION, locks.UID_ANNOTATION, locks.LEASE_ANNOTATION, FINAL_SNAPSHOT_RESULT_ANNOTATION}
        ours = {
            "metadata": {
                "finalizers": ["redisbackup.io/final-snapshot"],
                "annotations": dict.fromkeys(sorted(written), "written by the operator"),
            }
        }
        assert patch(ours) == (0, "")
        assert patch({"metadata": {"annotations": dict.fromkeys(written)}}) == (0, "")
        assert patch({"metadata": {"finalizers": None}}) == (0, "")
    finally:
        kube.kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=false", input=applied, check=False)


@pytest.mark.parametrize("enabled", [True, False])
def test_workloads_are_watched_and_finalized_only_for_final_snapshots(enabled: bool, tmp_path: Path) -> None:
    docs = render({"finalSnapshots": {"enabled": enabled}}, tmp_path)
    granted: dict[str, set[str]] = {}
    for _where, rule in operator_rules(docs):
        for resource in rule["resources"]:
            granted.setdefault(resource, set()).update(rule["verbs"])
    watch = {"watch"} if enabled else set()
    assert granted["pods"] == {"get", "list", "patch"} | watch
    assert granted["statefulsets"] == {"get", "patch"} | watch | ({"list"} if enabled else set())
    finalizers = {"pods/finalizers", "statefulsets/finalizers"}
    assert {r for r in granted if r in finalizers} == (finalizers if enabled else set())
    assert all(granted[r] == {"update"} for r in finalizers if r in granted)
    assert granted["redisbackups"] == {"get", "list", "watch", "patch", "create", "delete"}
    assert granted["redisbackupschedules"] == {"get", "list", "watch", "patch"}
    config = parse_config(one(docs, "ConfigMap")["data"]["config.yaml"], source="finalSnapshots")
    assert config.final_snapshots.enabled is enabled
