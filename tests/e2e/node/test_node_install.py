"""The README's ways to install, on the real node: `helm install` with `watchNamespaces` (the default cluster-wide
mode is the smoke test's), `kubectl apply --server-side -f manifests/install.yaml` and `kubectl apply -k
manifests/`, each running the operator as a real Pod that takes a backup."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from kubernetes import client

from devstack.fixtures.node import RealStack
from devstack.operator import REPO
from tests.e2e.node.support import (
    OPERATOR,
    SAMPLES,
    apply_workloads,
    install,
    release_backups,
    wait_until,
)
from tests.e2e.operator_support import delete, get, wait_gone, wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.slow]

MANIFESTS = REPO / "manifests"
INSTALLED_NAMESPACE = "redisbackup-system"  # what manifests/install.yaml creates


def test_helm_install_with_watch_namespaces_serves_only_those(
    real_cluster: RealStack, real_api: client.ApiClient, node_namespace: str, tmp_path: Path
) -> None:
    kube = real_cluster.kube
    watched, other = kube.create_namespace("watched"), kube.create_namespace("other")
    try:
        for namespace in (watched, other):
            apply_workloads(kube, namespace, "mynonclusteredredis")
        release = install(real_cluster, node_namespace, tmp_path, watch=[watched])
        try:
            sample = str(SAMPLES / "backup-single-node.yaml")
            kube.kubectl("apply", "-n", watched, "-f", sample)
            kube.kubectl("apply", "-n", other, "-f", sample)
            wait_phase(real_api, watched, "bkup-20150515", "available", timeout=180)
            time.sleep(5)  # the other namespace's backup had every chance to be picked up
            untouched = get(real_api, other, "bkup-20150515")
            assert untouched is not None
            assert not untouched.get("status"), "a namespace outside watchNamespaces was served"
            assert not untouched["metadata"].get("finalizers")
            roles = json.loads(kube.kubectl("get", "roles", "-A", "-o", "json").stdout)["items"]
            assert {r["metadata"]["namespace"] for r in roles if r["metadata"]["name"].startswith(release.name)} >= {
                watched
            }
            assert release.restarts() == 0, release.log()
        finally:
            release.uninstall()
            release_backups(kube, watched)
    finally:
        kube.delete_namespace(watched)
        kube.delete_namespace(other)


@pytest.mark.parametrize(
    "how",
    [
        ("apply", "--server-side", "-f", str(MANIFESTS / "install.yaml")),
        ("apply", "--server-side", "-k", str(MANIFESTS)),
    ],
    ids=["install.yaml", "kustomize"],
)
def test_the_plain_manifests_install_an_operator_that_takes_a_backup(
    real_cluster: RealStack, real_api: client.ApiClient, node_namespace: str, how: tuple[str, ...]
) -> None:
    """As the README: the chart rendered with its defaults (image ghcr.io/redisbackup/redisbackup:<appVersion>, which
    `make images` also tags this tree's build as), then a sample backup."""
    kube = real_cluster.kube
    kube.kubectl(*how)
    try:
        kube.rollout(INSTALLED_NAMESPACE, "deployment/redisbackup", timeout=240)
        apply_workloads(kube, node_namespace, "mynonclusteredredis")
        kube.kubectl("apply", "-n", node_namespace, "-f", str(SAMPLES / "backup-single-node.yaml"))
        body = wait_phase(real_api, node_namespace, "bkup-20150515", "available", timeout=180)
        assert body["status"]["nodeSnapshots"][0]["cacheSize"] not in ("", "0")
        pods = json.loads(kube.kubectl("get", "pods", "-n", INSTALLED_NAMESPACE, "-l", OPERATOR, "-o", "json").stdout)
        (pod,) = pods["items"]
        assert pod["spec"]["containers"][0]["image"].startswith("ghcr.io/redisbackup/redisbackup:")
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        # Deleting while the operator runs removes the stored snapshot (deletionPolicy Delete, the default).
        delete(real_api, node_namespace, "bkup-20150515")
        wait_gone(real_api, node_namespace, "bkup-20150515", timeout=60)
    finally:
        # As the README says: everything but the CRDs (deleting them would delete every RedisBackup). The
        # ClusterKopfPeering too: left behind, it is not the next `helm install`'s and that install fails.
        release_backups(kube, node_namespace)
        kube.kubectl(
            "delete", "namespace", INSTALLED_NAMESPACE, "--wait=true", "--timeout=120s", check=False, timeout=150
        )
        kube.kubectl("delete", "clusterrole,clusterrolebinding,validatingwebhookconfiguration,clusterkopfpeering",
                     "-l", "app.kubernetes.io/name=redisbackup", "--ignore-not-found", check=False)  # fmt: skip
        kube.kubectl("delete", "validatingadmissionpolicy,validatingadmissionpolicybinding", "-l",
                     "app.kubernetes.io/name=redisbackup", "--ignore-not-found", check=False)  # fmt: skip
        wait_until(
            lambda: kube.kubectl("get", "namespace", INSTALLED_NAMESPACE, check=False).returncode != 0,
            120,
            f"namespace {INSTALLED_NAMESPACE} gone",
        )
