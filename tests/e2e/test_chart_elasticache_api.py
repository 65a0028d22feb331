"""The chart's ElastiCache API: rendered (lint, dry-run, least-privilege RBAC, the restricted Pod Security profile,
options `redisbackup serve` accepts) and installed — its Deployment's Pod run with nothing but the chart's RBAC,
answering the aws CLI with a certificate whose CA it published in the chart's ConfigMap."""

from __future__ import annotations

import argparse
import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from devstack import binaries, manifests
from devstack.cluster import Cluster
from devstack.elasticache_api import CALLER_RULES, RunningApi, grant
from devstack.image import image_config
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from redisbackup.cli import serve
from tests.e2e.chart_support import RELEASE, audit, dry_run, helm, install, objects, operator_rules, render
from tests.e2e.elasticache_api_support import aws, error_line
from tests.e2e.operator_support import wait_phase

pytestmark = pytest.mark.e2e

API = f"{RELEASE}-redisbackup-elasticache-api"
VARIANTS: dict[str, dict[str, Any]] = {
    "api": {"elasticacheApi": {"enabled": True}},
    "api-narrowed": {
        "elasticacheApi": {
            "enabled": True,
            "sessionTokens": True,
            "impersonation": {"serviceAccounts": ["team-a/backup-bot", "team-b/ci"], "users": ["alice"]},
            "ingress": {"enabled": True, "host": "elasticache.example.com", "className": "nginx"},
        }
    },
    "api-ha-cert-manager": {
        "elasticacheApi": {"enabled": True, "replicaCount": 2, "tls": {"certManager": {"enabled": True}}},
        "metrics": {"serviceMonitor": {"enabled": True}},
    },
    "api-console": {
        "elasticacheApi": {
            "enabled": True,
            "console": {"enabled": True, "defaultNamespace": "team-a", "copyLocations": ["archive", "embedded"]},
        }
    },
}


def deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [doc for doc in objects(docs, "Deployment") if doc["metadata"]["name"] == API]
    return found


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_strict_passes_with_the_api(variant: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VARIANTS[variant]))
    argv = [str(binaries.tool("helm")), "lint", str(manifests.CHART), "--kube-version", manifests.KUBE_VERSION]
    result = subprocess.run([*argv, "--strict", "-f", str(values)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ["api", "api-narrowed"])
def test_the_apiserver_accepts_the_apis_objects_in_a_server_side_dry_run(
    variant: str, kube: Cluster, tmp_path: Path
) -> None:
    for namespace in ("ops", "team-a", "team-b"):
        kube.kubectl("create", "namespace", namespace, check=False)
    result = dry_run(kube, render(VARIANTS[variant], tmp_path))
    assert result.returncode == 0, result.stderr


def test_the_api_server_may_only_act_as_callers_and_read_keys_by_name(tmp_path: Path) -> None:
    docs = render(VARIANTS["api"], tmp_path)
    granted = operator_rules(docs, account=API)
    assert sorted((where, tuple(rule["resources"]), tuple(rule["verbs"])) for where, rule in granted) == [
        (f"ClusterRole /{API}", ("serviceaccounts",), ("impersonate",)),
        (f"Role ops/{API}", ("configmaps",), ("get", "patch")),
        (f"Role ops/{API}", ("secrets",), ("get",)),
    ]
    configmaps = next(rule for _, rule in granted if rule["resources"] == ["configmaps"])
    assert configmaps["resourceNames"] == [f"{API}-ca"]
    # The operator's own rights are untouched: it may impersonate no one.
    assert audit(docs) == []
    assert not [rule for _, rule in operator_rules(docs) if "impersonate" in rule["verbs"]]


def test_listed_identities_narrow_impersonation_to_them(tmp_path: Path) -> None:
    granted = operator_rules(render(VARIANTS["api-narrowed"], tmp_path), account=API)
    impersonation = sorted(
        (where.split("/")[0], tuple(rule["resources"]), tuple(rule.get("resourceNames", ())))
        for where, rule in granted
        if "impersonate" in rule["verbs"]
    )
    assert impersonation == [
        ("ClusterRole ", ("users",), ("alice",)),
        ("Role team-a", ("serviceaccounts",), ("backup-bot",)),
        ("Role team-b", ("serviceaccounts",), ("ci",)),
    ]
    assert any(rule["resources"] == ["tokenreviews"] for _, rule in granted)
    assert not any("groups" in rule["resources"] for _, rule in granted), "a key must never claim a group"


def test_the_api_pod_is_restricted_and_runs_redisbackup_serve_as_the_chart_configures_it(tmp_path: Path) -> None:
    for variant, values in VARIANTS.items():
        pod = deployment(render(values, tmp_path))["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        # tini (the image's init) reaps what the server starts, then runs `redisbackup serve`
        assert image_config().argv(container)[:4] == ["tini", "--", "redisbackup", "serve"], variant
        env = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
        variables = {
            name: value.replace("$(POD_NAMESPACE)", "ops").replace("$(POD_IP)", "10.0.0.9")
            for name, value in env.items()
        }
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in variables.items():
                patch.setenv(name, value)
            serve.register(subparsers)
            options = serve.options_from(parser.parse_args(["serve"]))
        assert (options.listen_host, options.listen_port, options.keys_namespace) == ("0.0.0.0", 8443, "ops")
        assert options.metrics_port == 8082
        if variant == "api-ha-cert-manager":
            assert options.tls.cert_dir == Path("/etc/redisbackup/api-tls")
        else:
            assert options.tls.ca_configmap == f"{API}-ca"
            assert f"{API}.ops.svc" in options.tls.hosts
            assert "10.0.0.9" in options.tls.hosts
        assert options.session_tokens is (variant == "api-narrowed")


def test_more_api_replicas_without_shared_certificates_are_refused(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"elasticacheApi": {"enabled": True, "replicaCount": 2}}))
    argv = [str(binaries.tool("helm")), "template", RELEASE, str(manifests.CHART), "-f", str(values)]
    result = subprocess.run([*argv, "--kube-version", manifests.KUBE_VERSION], capture_output=True, text=True)
    assert result.returncode != 0
    assert "elasticacheApi.replicaCount > 1 needs shared certificates" in result.stderr


@pytest.mark.smoke
def test_the_charts_api_answers_aws_elasticache_with_only_the_charts_rbac(
    kube: Cluster,
    kube_api: client.ApiClient,
    namespace: str,
    mirror: Mirror,
    redis_standalone: Topology,
    tmp_path: Path,
) -> None:
    apps = kube.create_namespace("apps")
    installed = install(kube, namespace, tmp_path, {"watchNamespaces": [apps], "elasticacheApi": {"enabled": True}})
    try:
        notes = helm(kube, "get", "notes", RELEASE, "--namespace", namespace).stdout
        assert f"redisbackup create-access-key -n {namespace} --service-account" in notes
        assert f"kubectl get configmap -n {namespace} {API}-ca" in notes
        installed.run_operator(serving=apps)
        pod = installed.run_elasticache_api()
        configmap = client.CoreV1Api(kube_api).read_namespaced_config_map(f"{API}-ca", namespace)
        ca_file = tmp_path / "ca.crt"
        ca_file.write_text(configmap.data["ca.crt"])
        assert pod.process is not None
        api = RunningApi(pod.process, f"https://{pod.ip}:{pod.port('https')}", ca_file, namespace, "us-east-1", 0)

        mirror.pods(redis_standalone, apps, "mynonclusteredredis")
        grant(kube, apps, "backup-bot", CALLER_RULES)
        key = api.issue_key(kube, service_account=(apps, "backup-bot"))
        code, clusters, stderr = aws(api, key, "describe-cache-clusters")
        assert code == 0, f"{stderr}\n{pod.log_tail()}"
        assert [c["CacheClusterId"] for c in clusters["CacheClusters"]] == ["mynonclusteredredis-001"]
        code, created, stderr = aws(
            api, key, "create-snapshot", "--cache-cluster-id", "mynonclusteredredis-001", "--snapshot-name", "nightly"
        )
        assert code == 0, f"{stderr}\n{pod.log_tail()}"
        assert created["Snapshot"]["ARN"] == f"arn:aws:elasticache:us-east-1:{apps}:snapshot:nightly"
        wait_phase(kube_api, apps, "nightly", "available", timeout=120)

        grant(kube, apps, "nobody", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
        powerless = api.issue_key(kube, service_account=(apps, "nobody"))
        code, _, stderr = aws(api, powerless, "describe-snapshots")
        assert code == 255
        assert error_line("AccessDenied", "DescribeSnapshots") in stderr
    finally:
        installed.stop()
        helm(kube, "uninstall", RELEASE, "--namespace", namespace, check=False)
        with kube.api_client() as api_client:
            objects_api = client.CustomObjectsApi(api_client)
            listing: Any = objects_api.list_namespaced_custom_object("redisbackup.io", "v1alpha1", apps, "redisbackups")
            for item in listing["items"]:
                objects_api.patch_namespaced_custom_object(
                    "redisbackup.io", "v1alpha1", apps, "redisbackups", item["metadata"]["name"],
                    {"metadata": {"finalizers": None}},
                )  # fmt: skip
        kube.delete_namespace(apps)


def test_the_console_is_served_by_the_api_server_with_a_session_key_kept_in_a_secret(tmp_path: Path) -> None:
    docs = render(VARIANTS["api-console"], tmp_path)
    pod = deployment(docs)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"] if "value" in e}
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value.replace("$(POD_NAMESPACE)", "ops").replace("$(POD_IP)", "10.0.0.9"))
        serve.register(subparsers)
        options = serve.options_from(parser.parse_args(["serve"]))
    assert options.console is not None
    assert options.console.session_key_file == Path("/etc/redisbackup/console/session-key")
    assert options.console.settings.default_namespace == "team-a"
    assert options.console.settings.locations == ("archive", "embedded")
    (secret,) = [d for d in objects(docs, "Secret") if d["metadata"]["name"] == f"{API}-console-session"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert len(base64.b64decode(secret["data"]["session-key"])) >= 32
    mounted = {v["name"]: v for v in pod["volumes"]}["console-session"]
    assert mounted["secret"]["secretName"] == f"{API}-console-session"
    # One server, one Service: the console is /console/ beside the API, and needs no right of the server's own.
    assert [s["metadata"]["name"] for s in objects(docs, "Service") if "elasticache-api" in s["metadata"]["name"]] == [
        API
    ]
    plain = render(VARIANTS["api"], tmp_path)
    assert operator_rules(docs, API) == operator_rules(plain, API)  # the server gets no right for the console
