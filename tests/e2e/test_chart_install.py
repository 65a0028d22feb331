"""The chart on the real control plane: `helm install`, then the operator exactly as the chart's Deployment runs it
(the image's `redisbackup operator`, the chart's config file, env, volumes, probes) with nothing but the chart's RBAC
(a TokenRequest token of its ServiceAccount), taking backups of a standalone node and of a 3-shard Redis Cluster
into real S3, and its webhook, reached through the chart's Service, refusing what it must."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack import redis_nodes
from devstack.cluster import Cluster
from devstack.fixtures.s3 import S3Bucket
from devstack.gitops import argocd_health, kstatus
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.chart_support import RELEASE, Installed, helm, install, s3_values
from tests.e2e.operator_support import (
    apply,
    assert_stored_rdb,
    condition,
    events_of,
    fetch_object,
    get,
    manifest,
    wait_for,
    wait_phase,
)

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


# How a refusal by the apiserver shows in the log: the client's "(403)" and "Reason: Forbidden", a Status message
# "... is forbidden: User ...", kopf's APIForbiddenError / "Not enough permissions", an access-log status. A bare
# "403" is not one: ports, byte counts and object keys contain it.
REFUSED = re.compile(r"\(403\)|\" 403 |forbidden|Not enough permissions", re.IGNORECASE)


@pytest.fixture
def apps(kube: Cluster) -> Any:
    """The namespace the operator serves (its release lives in the `namespace` fixture's)."""
    name = kube.create_namespace("apps")
    yield name
    with kube.api_client() as api:  # release what the stopped operator can no longer release
        objects = client.CustomObjectsApi(api)
        listing: Any = objects.list_namespaced_custom_object("redisbackup.io", "v1alpha1", name, "redisbackups")
        for item in listing["items"]:
            patch = {"metadata": {"finalizers": None}}
            objects.patch_namespaced_custom_object(
                "redisbackup.io", "v1alpha1", name, "redisbackups", item["metadata"]["name"], patch
            )
    kube.delete_namespace(name)


@pytest.fixture
def released(kube: Cluster, namespace: str, apps: str, s3: S3Bucket, tmp_path: Path) -> Any:
    """The chart installed in `namespace`, serving `apps`, with the S3 bucket as its default location."""
    secret = {
        "metadata": {"name": "s3-credentials"},
        "stringData": {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key},
    }
    with kube.api_client() as api:
        client.CoreV1Api(api).create_namespaced_secret(namespace, secret)
    installed = install(kube, namespace, tmp_path, s3_values(s3, "s3-credentials", [apps]))
    yield installed
    installed.stop()
    helm(kube, "uninstall", RELEASE, "--namespace", namespace, check=False)


def ca_bundle(kube: Cluster) -> str:
    with kube.api_client() as api:
        configuration = client.AdmissionregistrationV1Api(api).read_validating_webhook_configuration(
            f"{RELEASE}-redisbackup"
        )
    return configuration.webhooks[0].client_config.ca_bundle or ""


def test_the_charts_operator_backs_up_a_node_and_a_cluster_into_s3_with_only_the_charts_rbac(
    kube: Cluster,
    kube_api: client.ApiClient,
    released: Installed,
    apps: str,
    s3: S3Bucket,
    mirror: Mirror,
    redis_standalone: Topology,
    redis_cluster: Topology,
    tmp_path: Path,
) -> None:
    assert ca_bundle(kube) == "", "the chart's configuration waits for the operator's CA"
    pod = released.run_operator(serving=apps)
    assert pod.process is not None
    assert Path(pod.process.argv[0]).name == "tini"
    assert pod.process.argv[1:] == ["--", "redisbackup", "operator"], "the image's ENTRYPOINT and CMD; no args"
    assert pod.probe("livenessProbe")
    assert base64.b64decode(ca_bundle(kube)).startswith(b"-----BEGIN CERTIFICATE-----")

    with redis_standalone.nodes[0].client() as redis:
        redis_nodes.fill_mixed(redis, count=200)
    mirror.pods(redis_standalone, apps, "mynonclusteredredis")
    apply(kube, apps, "bkup-20150515", snapshotName="bkup-20150515", cacheClusterId="myNonClusteredRedis-001")

    with redis_cluster.cluster_client() as redis:
        redis_nodes.fill_mixed(redis, count=300)
    redis_nodes.wait_cluster_gossip(redis_cluster)
    mirror.statefulset(redis_cluster, apps, "myclusteredredis")
    apply(kube, apps, "bkup-cluster", snapshotName="bkup-cluster", replicationGroupId="myClusteredRedis")

    node = wait_phase(kube_api, apps, "bkup-20150515", "available", timeout=120)
    (snapshot,) = node["status"]["nodeSnapshots"]
    assert_stored_rdb(fetch_object(s3, snapshot["objectKey"], tmp_path / "node.rdb"), snapshot)
    cluster = wait_phase(kube_api, apps, "bkup-cluster", "available", timeout=120)
    shards = cluster["status"]["nodeSnapshots"]
    assert [s["nodeGroupId"] for s in shards] == ["0001", "0002", "0003"]
    for shard in shards:
        assert_stored_rdb(fetch_object(s3, shard["objectKey"], tmp_path / f"{shard['nodeGroupId']}.rdb"), shard)
    assert set(s3.keys()) >= {snapshot["objectKey"], *(s["objectKey"] for s in shards)}

    log = pod.log()
    refusals = REFUSED.findall(log)
    assert not refusals, f"the chart's RBAC refused the operator something: {refusals}\n{pod.log_tail()}"

    # GitOps: Flux's kstatus and Argo CD's health check see the finished backups as done.
    assert (kstatus(cluster).status, argocd_health(cluster).status) == ("Current", "Healthy")


def test_the_charts_webhook_is_called_through_its_service_and_refuses_bad_backups(
    kube: Cluster, kube_api: client.ApiClient, released: Installed, apps: str
) -> None:
    released.run_operator(serving=apps)
    apply(kube, apps, "first", snapshotName="Nightly", cacheClusterId="cache-1")

    bad_name = kube.kubectl(
        "apply", "-n", apps, "-f", "-", input=manifest("bad", snapshotName="bkup--1", cacheClusterId="c"), check=False
    )
    assert bad_name.returncode != 0
    assert "snapshotName" in bad_name.stderr
    duplicate = kube.kubectl(
        "apply", "-n", apps, "-f", "-", input=manifest("again", snapshotName="nightly", cacheClusterId="c"), check=False
    )
    assert duplicate.returncode != 0
    assert "SnapshotAlreadyExistsFault" in duplicate.stderr, duplicate.stderr  # only the webhook knows the others
    assert get(kube_api, apps, "again") is None


def test_edits_of_deletion_policy_and_verify_are_observed_so_flux_sees_the_backup_as_current(
    kube: Cluster,
    kube_api: client.ApiClient,
    released: Installed,
    apps: str,
    mirror: Mirror,
    redis_standalone: Topology,
) -> None:
    released.run_operator(serving=apps)
    mirror.statefulset(redis_standalone, apps, "cache")
    apply(kube, apps, "daily", snapshotName="daily", cacheClusterId="cache")
    body = wait_phase(kube_api, apps, "daily", "available", timeout=120)
    assert kstatus(body).status == "Current"

    kube.kubectl("patch", "-n", apps, "rb", "daily", "--type=merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
    body = wait_for(
        kube_api,
        apps,
        "daily",
        lambda b: b["status"].get("observedGeneration") == b["metadata"]["generation"] == 2,
        what="observed generation 2",
    )
    assert body["status"]["phase"] == "available"
    assert condition(body, "Ready")["observedGeneration"] == 2
    assert (kstatus(body).status, argocd_health(body).status) == ("Current", "Healthy")

    # spec.verify, the other field that may change: the verify daemon runs (under the chart's RBAC and in its
    # /tmp), and its answer keeps the observed generation.
    kube.kubectl("patch", "-n", apps, "rb", "daily", "--type=merge", "-p", '{"spec":{"verify":true}}')
    body = wait_for(
        kube_api,
        apps,
        "daily",
        lambda b: bool(b["status"].get("verification")) and b["status"].get("observedGeneration") == 3,
        what="verified, generation 3 observed",
    )
    assert body["metadata"]["generation"] == 3
    assert body["status"]["verification"]["result"] == "Passed", body["status"]["verification"]
    assert (condition(body, "Verified")["status"], condition(body, "Ready")["observedGeneration"]) == ("True", 3)
    assert (kstatus(body).status, argocd_health(body).status) == ("Current", "Healthy")


def test_a_failed_backup_is_failed_for_flux_and_degraded_for_argo_cd(
    kube: Cluster, kube_api: client.ApiClient, released: Installed, apps: str
) -> None:
    released.run_operator(serving=apps)
    apply(kube, apps, "nowhere", snapshotName="nowhere", cacheClusterId="cache", storage="no-such-location")
    body = wait_phase(kube_api, apps, "nowhere", "failed", timeout=60)
    assert kstatus(body).status == "Failed"
    assert argocd_health(body).status == "Degraded"


def test_a_secret_outside_rbac_secret_namespaces_fails_the_backup_at_once_saying_what_to_change(
    kube: Cluster,
    kube_api: client.ApiClient,
    namespace: str,
    apps: str,
    mirror: Mirror,
    redis_password: Topology,
    tmp_path: Path,
) -> None:
    # The operator watches `apps` but may read Secrets only in another namespace: a 403 no retry can cure.
    elsewhere = kube.create_namespace("secrets")
    values = {"watchNamespaces": [apps], "rbac": {"secretNamespaces": [elsewhere]}, "limits": {"snapshotAttempts": 5}}
    installed = install(kube, namespace, tmp_path, values)
    try:
        pod = installed.run_operator(serving=apps)
        source = mirror.pods(redis_password, apps, "cache")
        assert source.auth_secret is not None
        apply(
            kube,
            apps,
            "guarded",
            snapshotName="guarded",
            cacheClusterId="cache-001",
            auth={"secretRef": {"name": source.auth_secret, "key": "password"}},
        )
        body = wait_phase(kube_api, apps, "guarded", "failed", timeout=60)
        failed = condition(body, "Failed")
        assert failed["reason"] == "AccessDenied", pod.log_tail()
        message = failed["message"]
        assert f'spec.auth.secretRef: the operator may not read Secret "{source.auth_secret}" in namespace {apps}' in (
            message
        )
        assert f"add {apps} to the value rbac.secretNamespaces" in message
        assert "gave up" not in message, "failed at once: no attempt was retried"
        assert condition(body, "Stalled")["reason"] == "AccessDenied"
        assert ("AccessDenied", f"Snapshot failed: {message}") in events_of(kube_api, apps, "guarded")
    finally:
        installed.stop()
        helm(kube, "uninstall", RELEASE, "--namespace", namespace, check=False)
        kube.delete_namespace(elsewhere)
