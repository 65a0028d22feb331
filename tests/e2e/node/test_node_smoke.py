"""The real node, smoke subset (in `make test`): the node itself, and what the README's quick start does — `helm
install` with default values (but the tree's image), the sample workloads and the three backup samples applied
as-is — with the operator and Redis running as containers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kubernetes import client

from devstack import images
from devstack.fixtures.node import RealStack
from devstack.node import host_rules
from devstack.node.components import NODE_NAME
from devstack.node.inspect import container_processes
from tests.e2e.node.support import (
    SAMPLES,
    apply_workloads,
    install,
    pod_client,
    release_backups,
    restarts,
    volume_path,
)
from tests.e2e.operator_support import assert_stored_rdb, wait_phase

pytestmark = [pytest.mark.e2e, pytest.mark.node]


def test_the_node_is_ready_on_containerd_and_pods_reach_services_by_name(
    real_cluster: RealStack, node_namespace: str
) -> None:
    node = json.loads(real_cluster.kube.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    assert not node["spec"].get("taints"), "nodelifecycle lifted the not-ready taint"
    # In-cluster: the `kubernetes` Service by name (CoreDNS) and its ClusterIP (kube-proxy) reach the apiserver,
    # which answers an unauthenticated /version.
    script = (
        "getent hosts kubernetes.default.svc.cluster.local && "
        'python3 -c "import ssl,urllib.request as u; '
        "print(u.urlopen('https://kubernetes.default.svc/version', context=ssl._create_unverified_context())"
        '.read().decode())"'
    )
    real_cluster.kube.kubectl(
        "run", "probe", "-n", node_namespace, "--restart=Never", f"--image={images.OPERATOR.reference}",
        "--command", "--", "sh", "-c", script,
    )  # fmt: skip
    real_cluster.kube.kubectl(
        "wait", "-n", node_namespace, "--for=jsonpath={.status.phase}=Succeeded", "pod/probe", "--timeout=90s"
    )
    log = real_cluster.kube.kubectl("logs", "-n", node_namespace, "probe").stdout
    assert "10.96.0.1" in log, log
    assert '"gitVersion"' in log, log


def test_helm_install_with_default_values_backs_up_the_samples_as_real_containers(
    real_cluster: RealStack, real_api: client.ApiClient, node_namespace: str, tmp_path: Path
) -> None:
    kube = real_cluster.kube
    apply_workloads(kube, node_namespace, "mynonclusteredredis", "myreplicatedredis", "myclusteredredis")
    with pod_client(kube, node_namespace, "mynonclusteredredis-0") as redis:
        redis.mset({f"order:{i}": f"value-{i}" for i in range(500)})
    release = install(real_cluster, node_namespace, tmp_path, test_limits=False)  # default values, but the image
    try:
        files = [arg for name in ("backup-single-node", "backup-replica-node", "backup-cluster")
                 for arg in ("-f", str(SAMPLES / f"{name}.yaml"))]  # fmt: skip
        kube.kubectl("apply", "-n", node_namespace, *files)
        single = wait_phase(real_api, node_namespace, "bkup-20150515", "available", timeout=180)
        wait_phase(real_api, node_namespace, "replica-20150515", "available", timeout=180)
        cluster = wait_phase(real_api, node_namespace, "cluster-20150515", "available", timeout=180)
        assert [s["nodeGroupId"] for s in cluster["status"]["nodeSnapshots"]] == ["0001", "0002", "0003"]

        # The default location is the chart's `embedded` file store on its PersistentVolumeClaim: the bytes on the
        # volume are what the status says.
        (snapshot,) = single["status"]["nodeSnapshots"]
        claim = next(v["persistentVolumeClaim"]["claimName"] for v in release.pod()["spec"]["volumes"]
                     if "persistentVolumeClaim" in v)  # fmt: skip
        stored = volume_path(kube, release.namespace, claim) / snapshot["objectKey"]
        assert_stored_rdb(stored, snapshot)

        # Real containers: the operator's and Redis' processes in mount namespaces of their own, the operator as
        # the image's user (65532), Redis as the securityContext's (999); none restarted.
        assert real_cluster.cluster.slot is not None
        processes = list(container_processes(kube.kubeconfig, real_cluster.cluster.slot.cgroup))
        operator = [p for p in processes if p.pod == release.pod()["metadata"]["name"]]
        redis_servers = [p for p in processes if p.namespace == node_namespace and p.container == "redis"]
        assert [(p.uid, p.command.split()[0]) for p in operator] == [(65532, "tini")]
        assert len(redis_servers) == 10
        assert {p.uid for p in redis_servers} == {999}
        assert all(p.own_mount_namespace for p in [*operator, *redis_servers])
        assert release.restarts() == 0, release.log()
        assert not {pod: n for pod, n in restarts(kube, node_namespace).items() if n}
    finally:
        release.uninstall()
        release_backups(kube, node_namespace)


def test_the_leftover_check_sees_a_host_rule_that_names_the_node(real_cluster: RealStack) -> None:
    """`make demo-down` and this suite fail on what the node leaves; a host iptables rule naming its Pod network
    (in a chain of its own that nothing jumps to: harmless meanwhile) is found, and gone once deleted."""
    slot = real_cluster.cluster.slot
    assert slot is not None
    assert host_rules(slot.name, slot.index) == [], "the node makes no rule on the host"
    chain = f"RBTEST-{slot.index}"
    subprocess.run(["iptables", "-N", chain], check=True)
    try:
        subprocess.run(["iptables", "-A", chain, "-s", slot.pod_cidr, "-j", "RETURN"], check=True)
        assert [rule for rule in host_rules(slot.name, slot.index) if chain in rule]
    finally:
        subprocess.run(["iptables", "-F", chain], check=True)
        subprocess.run(["iptables", "-X", chain], check=True)
    assert host_rules(slot.name, slot.index) == []
