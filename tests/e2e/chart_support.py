"""Shared steps of the chart tests: helm against the test cluster, rendering, and the chart's operator as a LocalPod."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from devstack import binaries
from devstack.cluster import Cluster
from devstack.localpod import LocalPod
from devstack.manifests import CHART, helm_template
from devstack.operator import TEST_LIMITS, RunningOperator

RELEASE = "rb"


def helm(kube: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [str(binaries.tool("helm")), f"--kubeconfig={kube.kubeconfig}", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"`helm {' '.join(args)}` exited {result.returncode}:\n{result.stderr}")
    return result


def render(
    values: Mapping[str, Any] | None = None, tmp: Path | None = None, namespace: str = "ops"
) -> list[dict[str, Any]]:
    """The chart's objects (CRDs included) for `values`."""
    extra: list[str] = []
    if values:
        assert tmp is not None
        path = tmp / "values.yaml"
        path.write_text(yaml.safe_dump(dict(values)))
        extra = ["-f", str(path)]
    text = helm_template(*extra, namespace=namespace, release=RELEASE)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def objects(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = objects(docs, kind)
    return found


def dry_run(kube: Cluster, docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """Apply the rendered CRDs (the chart's own and kopf's peering), then every other object in a server-side dry run:
    the apiserver's verdict on what `helm install` would create."""
    crds = objects(docs, "CustomResourceDefinition")
    others = [doc for doc in docs if doc["kind"] != "CustomResourceDefinition"]
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(crds))
    for crd in crds:
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
    return kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(others), check=False
    )


def rules(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every RBAC rule of the (Cluster)Roles, with the role's kind/namespace/name."""
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "Role"):
            where = f"{doc['kind']} {doc['metadata'].get('namespace', '')}/{doc['metadata']['name']}"
            for rule in doc.get("rules") or []:
                yield where, rule


def operator_rules(
    docs: list[dict[str, Any]], account: str = f"{RELEASE}-redisbackup"
) -> list[tuple[str, dict[str, Any]]]:
    """The rules bound to ServiceAccount `account` — the operator's by default (not the aggregated view/edit roles
    for users, nor the ElastiCache API server's)."""
    bound = {
        (doc["roleRef"]["kind"], doc["metadata"].get("namespace", ""), doc["roleRef"]["name"])
        for doc in docs
        if doc["kind"] in ("ClusterRoleBinding", "RoleBinding")
        and any(s.get("kind") == "ServiceAccount" and s.get("name") == account for s in doc.get("subjects") or [])
    }
    found = []
    for where, rule in rules(docs):
        kind, rest = where.split(" ", 1)
        namespace, name = rest.split("/", 1)
        if (kind, namespace if kind == "Role" else "", name) in bound:
            found.append((where, rule))
    return found


def _the_webhook_ca(rule: dict[str, Any], verbs: list[str]) -> bool:
    """The one Secret the operator may write: the webhook CA its Pods share (get and patch, by name)."""
    names = rule.get("resourceNames") or []
    return len(names) == 1 and names[0].endswith("-webhook-ca") and set(verbs) <= {"get", "patch"}


def audit(docs: list[dict[str, Any]]) -> list[str]:
    """What a least-privilege review refuses in the operator's RBAC."""
    problems = []
    for where, rule in operator_rules(docs):
        resources, verbs = rule.get("resources") or [], rule.get("verbs") or []
        for value in (*rule.get("apiGroups", []), *resources, *verbs, *rule.get("resourceNames", [])):
            if "*" in value:
                problems.append(f"{where}: wildcard {value!r} in {rule}")
        for resource in resources:
            if resource in ("pods/exec", "pods/attach", "pods/portforward", "nodes/proxy", "serviceaccounts/token"):
                problems.append(f"{where}: {resource} in {rule}")
            if resource == "secrets" and set(verbs) - {"get"} and not _the_webhook_ca(rule, verbs):
                problems.append(f"{where}: secrets may only be read by name (get), not {sorted(verbs)}")
            if resource in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations") and (
                "create" in verbs or not rule.get("resourceNames")
            ):
                problems.append(f"{where}: webhook configurations only by name, never create: {rule}")
            if resource in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"):
                problems.append(f"{where}: the operator must not manage RBAC: {rule}")
        for verb in ("escalate", "bind", "impersonate", "deletecollection"):
            if verb in verbs:
                problems.append(f"{where}: {verb} in {rule}")
    return problems


@dataclass
class Installed:
    """A helm release of the chart in `namespace`, and the operator Pods run locally from its Deployment."""

    kube: Cluster
    namespace: str
    tmp: Path
    pods: list[LocalPod] = field(default_factory=list)

    def deployment(self, name: str = f"{RELEASE}-redisbackup") -> dict[str, Any]:
        with self.kube.api_client() as api:
            body = client.AppsV1Api(api).read_namespaced_deployment(name, self.namespace)
            return api.sanitize_for_serialization(body)  # type: ignore[no-any-return]

    def run_elasticache_api(self, timeout: float = 90.0) -> LocalPod:
        """Start the chart's ElastiCache API Deployment's Pod locally and wait until its probes pass."""
        deployment = self.deployment(f"{RELEASE}-redisbackup-elasticache-api")
        pod = LocalPod(self.kube, deployment, self.tmp / "api-pod", self.tmp / "logs", suffix="api")
        self.pods.append(pod)
        pod.start()
        pod.wait_ready(timeout)
        return pod

    def run_operator(self, suffix: str = "0", timeout: float = 90.0, serving: str | None = None) -> LocalPod:
        """Start the Deployment's Pod as a local process and wait until its probes pass and, for `serving` (a
        watched namespace), until the apiserver trusts its webhook (its CA bundle is published a moment after
        its port opens; until then calls fail closed)."""
        root = self.tmp / f"pod-{suffix}"
        pod = LocalPod(self.kube, self.deployment(), root, self.tmp / "logs", suffix=suffix)
        self.pods.append(pod)
        pod.start()
        pod.wait_ready(timeout)
        if serving is not None:
            assert pod.process is not None
            probe = RunningOperator(pod.process, self.kube, (serving,), 0, "")
            pod.process.wait_ready(lambda: probe.webhook_answers(serving), timeout, "trusted by the apiserver")
        return pod

    def stop(self) -> None:
        for pod in self.pods:
            pod.stop()


def install(kube: Cluster, namespace: str, tmp: Path, values: Mapping[str, Any]) -> Installed:
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(dict(values)))
    helm(kube, "install", RELEASE, str(CHART), "--namespace", namespace, "-f", str(path))
    return Installed(kube, namespace, tmp)


def s3_values(bucket: Any, secret: str, watch: list[str]) -> dict[str, Any]:
    """Values for an S3 default location whose keys come from `secret` (existingSecret), serving `watch`."""
    return {
        "watchNamespaces": watch,
        "limits": TEST_LIMITS,
        "storage": {
            "defaultLocation": "archive",
            "locations": {
                "embedded": None,
                "archive": {
                    "s3": {
                        "bucket": bucket.bucket,
                        "endpoint": bucket.endpoint_url,
                        "region": bucket.region,
                        "addressingStyle": "path",
                        "existingSecret": secret,
                    }
                },
            },
        },
    }
