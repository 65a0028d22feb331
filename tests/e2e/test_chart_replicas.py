"""Two replicas of the chart's operator: both serve the webhook with the one certificate of `webhook.existingSecret`,
and kopf peering (a KopfPeering the chart creates, random priorities) lets exactly one of them take snapshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from devstack.tls import CertificateAuthority
from tests.e2e.chart_support import RELEASE, helm, install, s3_values
from tests.e2e.operator_support import apply, wait_phase

pytestmark = pytest.mark.e2e

# What the replica that streams a snapshot logs once the RDB is stored (workflows.snapshot): only the replica whose
# task took the snapshot writes it.
TOOK_SNAPSHOT = re.compile(r"\bstored \d+ bytes of ")


def test_two_replicas_share_the_webhook_certificate_and_only_one_takes_the_snapshot(
    kube: Cluster,
    kube_api: client.ApiClient,
    namespace: str,
    s3: S3Bucket,
    mirror: Mirror,
    redis_standalone: Topology,
    tmp_path: Path,
) -> None:
    core = client.CoreV1Api(kube_api)
    service = f"{RELEASE}-redisbackup-webhook"
    hosts = [service, f"{service}.{namespace}.svc"]  # the first is the CN, which may not pass 64 characters
    files = CertificateAuthority("webhook-ca").issue(tmp_path, "webhook", hosts)
    tls = {"tls.crt": files.cert.read_text(), "tls.key": files.key.read_text(), "ca.crt": files.ca.read_text()}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "webhook-tls"}, "stringData": tls})
    keys = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "s3-credentials"}, "stringData": keys})
    values: dict[str, Any] = {
        **s3_values(s3, "s3-credentials", [namespace]),
        "replicaCount": 2,
        "webhook": {"existingSecret": "webhook-tls"},
    }
    released = install(kube, namespace, tmp_path, values)
    try:
        first = released.run_operator("0", serving=namespace)
        second = released.run_operator("1", serving=namespace)
        for pod in (first, second):  # the apiserver trusts whichever replica the Service picks
            assert pod.probe("readinessProbe")

        peering: Any = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
            "kopf.dev", "v1", namespace, "kopfpeerings", f"{RELEASE}-redisbackup"
        )
        peers = peering.get("status") or {}
        assert set(peers) == {first.name, second.name}, "kopf names each replica after its Pod (POD_ID)"
        assert len({peer["priority"] for peer in peers.values()}) == 2, "random priorities never tie here"

        mirror.statefulset(redis_standalone, namespace, "cache")
        apply(kube, namespace, "shared", snapshotName="shared", cacheClusterId="cache")
        wait_phase(kube_api, namespace, "shared", "available", timeout=120)
        lower = min((first, second), key=lambda pod: peers[pod.name]["priority"])
        higher = second if lower is first else first
        # The lower one is paused: from its start when it found the other there (kopf starts a peered operator
        # paused until its peering watch decides), or since the other appeared ("Pausing operations …").
        assert higher.process is not None
        higher.process.wait_ready(lambda: TOOK_SNAPSHOT.search(higher.log()), timeout=30, what="done with the snapshot")
        assert not TOOK_SNAPSHOT.search(lower.log()), lower.log_tail()
        for pod in (first, second):
            assert "Forbidden" not in pod.log(), pod.log_tail()
    finally:
        released.stop()
        with kube.api_client() as api:
            objects = client.CustomObjectsApi(api)
            patch = {"metadata": {"finalizers": None}}
            objects.patch_namespaced_custom_object(
                "redisbackup.io", "v1alpha1", namespace, "redisbackups", "shared", patch
            )
        helm(kube, "uninstall", RELEASE, "-n", namespace, check=False)
