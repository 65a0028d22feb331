"""The local Pod emulation: the image's PATH points at this checkout even when the checkout lives under /tmp."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import pytest

from devstack.cluster import Cluster
from devstack.image import image_config
from devstack.localpod import LocalPod


def test_a_checkout_under_tmp_keeps_its_own_path_while_the_pods_tmp_is_localised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = {
        "metadata": {"name": "rb", "namespace": "ops"},
        "spec": {"template": {"spec": {"containers": [{"name": "operator"}]}}},
    }
    pod = LocalPod(kube=cast(Cluster, None), deployment=deployment, root=tmp_path, log_dir=tmp_path)
    pod._mounts["/tmp"] = tmp_path / "volumes" / "tmp"  # the chart's emptyDir at /tmp
    monkeypatch.setattr(sys, "executable", "/tmp/fresh-clone/.venv/bin/python")
    monkeypatch.setenv("PATH", "/usr/local/bin")

    env = pod._container_env(cast(Any, None))  # no valueFrom: the API is not asked

    assert image_config().env["PATH"].startswith("/opt/redisbackup/bin")
    assert env["PATH"] == "/tmp/fresh-clone/.venv/bin:/usr/local/bin"
    assert env["TMPDIR"] == str(tmp_path / "volumes" / "tmp")  # the image's TMPDIR is the Pod's /tmp
