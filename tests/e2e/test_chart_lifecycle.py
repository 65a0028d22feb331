"""Upgrading and uninstalling the chart: an upgrade keeps the operator's CA bundle in the webhook configuration and
restarts the operator on a changed configuration; an uninstall removes the operator but keeps the CRD and so every
RedisBackup, and the embedded location's claim and so their stored snapshots, which an install again takes up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from devstack.cluster import Cluster
from devstack.manifests import CHART
from tests.e2e.chart_support import RELEASE, helm, install
from tests.e2e.operator_support import apply, get, wait_phase

pytestmark = pytest.mark.e2e

CRD = "redisbackups.redisbackup.io"
CLAIM = f"{RELEASE}-redisbackup-embedded"


def test_upgrade_keeps_the_ca_bundle_and_uninstall_keeps_the_crd_and_the_backups(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    values = {"watchNamespaces": [namespace], "limits": {"sourceMissingDeadlineSeconds": 5, "retryMaxDelaySeconds": 2}}
    released = install(kube, namespace, tmp_path, values)
    admission = client.AdmissionregistrationV1Api(kube_api)
    apps = client.AppsV1Api(kube_api)
    try:
        released.run_operator(serving=namespace)
        bundle = admission.read_validating_webhook_configuration(f"{RELEASE}-redisbackup").webhooks[0].client_config
        assert bundle.ca_bundle
        apply(kube, namespace, "kept", snapshotName="kept", cacheClusterId="gone", deletionPolicy="Retain")
        wait_phase(kube_api, namespace, "kept", "failed", timeout=60)  # no such source: failed, and kept
        before = apps.read_namespaced_deployment(f"{RELEASE}-redisbackup", namespace).spec.template.metadata

        values["limits"]["maxConcurrentSnapshots"] = 2
        (tmp_path / "upgrade.yaml").write_text(yaml.safe_dump(values))
        helm(kube, "upgrade", RELEASE, str(CHART), "-n", namespace, "-f", str(tmp_path / "upgrade.yaml"))

        after = apps.read_namespaced_deployment(f"{RELEASE}-redisbackup", namespace).spec.template.metadata
        assert after.annotations["checksum/config"] != before.annotations["checksum/config"], "a new config restarts"
        configuration = admission.read_validating_webhook_configuration(f"{RELEASE}-redisbackup")
        assert configuration.webhooks[0].client_config.ca_bundle == bundle.ca_bundle, "helm left the CA bundle"
        assert configuration.metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
        assert configuration.metadata.annotations["meta.helm.sh/release-name"] == RELEASE, "still helm's to own"
    except BaseException:
        # The release's cluster-scoped objects (webhook configuration, ClusterRoles) would fail every later chart test.
        helm(kube, "uninstall", RELEASE, "-n", namespace, check=False)
        raise
    finally:
        released.stop()

    core = client.CoreV1Api(kube_api)
    claim = core.read_namespaced_persistent_volume_claim(CLAIM, namespace)
    helm(kube, "uninstall", RELEASE, "-n", namespace)
    with pytest.raises(client.ApiException) as gone:
        admission.read_validating_webhook_configuration(f"{RELEASE}-redisbackup")
    assert gone.value.status == 404
    assert kube.kubectl("get", "crd", CRD).returncode == 0, "helm never deletes a chart's CRDs"
    kept = get(kube_api, namespace, "kept")
    assert kept is not None
    assert kept["status"]["phase"] == "failed"
    left = core.read_namespaced_persistent_volume_claim(CLAIM, namespace)
    assert left.metadata.uid == claim.metadata.uid, "the embedded snapshots' claim outlives the release"
    assert left.metadata.deletion_timestamp is None

    # The same release installed again takes the claim up (Helm adopts it); opting out on an upgrade lets it go.
    helm(kube, "install", RELEASE, str(CHART), "-n", namespace, "-f", str(tmp_path / "upgrade.yaml"))
    assert core.read_namespaced_persistent_volume_claim(CLAIM, namespace).metadata.uid == claim.metadata.uid
    values["storage"] = {"locations": {"embedded": {"file": {"persistence": {"keepOnUninstall": False}}}}}
    (tmp_path / "opt-out.yaml").write_text(yaml.safe_dump(values))
    helm(kube, "upgrade", RELEASE, str(CHART), "-n", namespace, "-f", str(tmp_path / "opt-out.yaml"))
    adopted = core.read_namespaced_persistent_volume_claim(CLAIM, namespace)
    assert "helm.sh/resource-policy" not in (adopted.metadata.annotations or {})
    helm(kube, "uninstall", RELEASE, "-n", namespace)
    deleted = core.list_namespaced_persistent_volume_claim(namespace).items
    assert all(c.metadata.name != CLAIM or c.metadata.deletion_timestamp for c in deleted), "opted out: deleted"
    # The operator is gone, so nothing will release the finalizer: let the namespace go at the end of the test.
    kube.kubectl("patch", "-n", namespace, "rb", "kept", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
