"""The restore samples are valid Kubernetes objects: the apiserver accepts them (server-side dry run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.cluster import Cluster

pytestmark = pytest.mark.e2e

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "restore"


@pytest.mark.parametrize("name", ["node.yaml", "cluster.yaml"])
def test_the_apiserver_accepts_the_sample(kube: Cluster, namespace: str, name: str) -> None:
    result = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(SAMPLES / name), check=False)
    assert result.returncode == 0, result.stderr
    assert "(server dry run)" in result.stdout
