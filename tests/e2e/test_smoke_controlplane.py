"""Smoke: the local control plane is the pinned Kubernetes release, and stopping it leaves nothing behind."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from devstack import binaries
from devstack.cluster import Cluster
from devstack.kube import HOST, ControlPlane

pytestmark = pytest.mark.e2e


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def test_the_apiserver_reports_the_pinned_kubernetes_version(kube: Cluster) -> None:
    if kube.external:
        pytest.skip("the version pin is ours; an external cluster runs whatever it runs")

    version = json.loads(kube.kubectl("version", "--output=json").stdout)

    assert version["serverVersion"]["gitVersion"] == binaries.KUBERNETES_VERSION
    assert version["clientVersion"]["gitVersion"] == binaries.KUBERNETES_VERSION


def test_a_stopped_control_plane_leaves_no_process_no_port_and_no_data(tmp_path: Path) -> None:
    if os.environ.get("REDISBACKUP_E2E_KUBECONFIG"):
        pytest.skip("exercises the local launcher only")
    plane = ControlPlane(workdir=tmp_path)
    plane.start()
    pids = [process.pid for process in plane.processes]
    ports = plane.endpoints.ports()
    assert len(pids) == 3
    assert all(_running(pid) for pid in pids)
    assert Cluster(plane.kubeconfig).kubectl("get", "--raw=/readyz").stdout == "ok"

    plane.stop()

    assert not [pid for pid in pids if _running(pid)]
    assert not [port for port in ports if _accepts_connections(port)]
    assert not (tmp_path / "etcd").exists()
    assert (tmp_path / "logs" / "kube-apiserver.log").stat().st_size > 0
