"""The node's Kubernetes programs and their configuration: kubelet, kube-proxy, kube-scheduler (built from the same
k8s.io/kubernetes as the apiserver, devstack.binaries), CoreDNS and the local-path provisioner.

Each runs inside the node's namespaces (devstack.node.network) under an identity of its own, authorised by the
bootstrap RBAC of a kubeadm cluster: the kubelet as ``system:node:<node>`` (Node authorizer, NodeRestriction),
kube-proxy as ``system:kube-proxy``, the scheduler as ``system:kube-scheduler``; CoreDNS and the provisioner get the
ClusterRoles of their upstream manifests (devstack.node.addons). Ports inside the node's network namespace are its
own, so they are the upstream defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import binaries

NODE_NAME = "devstack-node"
CLUSTER_DOMAIN = "cluster.local"
DNS_SERVICE_IP = "10.96.0.10"
KUBELET_PORT = 10250
STORAGE_CLASS = "standard"
PROVISIONER = "rancher.io/local-path"

USERS: dict[str, tuple[str, ...]] = {
    f"system:node:{NODE_NAME}": ("system:nodes",),
    "system:kube-proxy": (),
    "system:kube-scheduler": (),
    "devstack:coredns": (),
    "devstack:local-path-provisioner": (),
}


def _json(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")  # JSON is YAML: every component reads it
    return path


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps its files, and its addresses."""

    directory: Path
    node_ip: str
    pod_cidr: str
    cgroup: str
    ca_file: Path
    runtime_endpoint: str

    @property
    def kubelet_dir(self) -> Path:
        return self.directory / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.directory / "pod-logs"

    @property
    def volumes(self) -> Path:
        """Where the local-path provisioner makes PersistentVolumes (visible from the host)."""
        return self.directory / "volumes"


def kubelet_argv(layout: NodeLayout, kubeconfig: Path) -> list[str]:
    config = _json(
        layout.directory / "kubelet.json",
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": layout.node_ip,
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": 10248,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(layout.ca_file)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": layout.runtime_endpoint,
            # cgroup v1 without systemd as PID 1 (these machines); the node's cgroups under a root of its own
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": layout.cgroup,
            "failCgroupV1": False,
            "failSwapOn": False,
            "enforceNodeAllocatable": [],
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            # Pods get the cluster's DNS and no search domain or resolver of the machine's
            "resolvConf": str(_resolv_conf(layout)),
            "podLogsDir": str(layout.pod_logs),
            "volumePluginDir": str(layout.directory / "volume-plugins"),
            "staticPodPath": "",
            "registerNode": True,
            "serializeImagePulls": False,
            # Images are imported, never pulled: the kubelet must never collect them, whatever the disk's fill.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # A shared machine's disk may be fuller than a node's defaults allow; memory pressure is real.
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            # emptyDir sizeLimit and ephemeral-storage limits are enforced (the operator's /tmp is one)
            "localStorageCapacityIsolation": True,
            "evictionPressureTransitionPeriod": "30s",
            "shutdownGracePeriod": "0s",
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "protectKernelDefaults": False,
            "makeIPTablesUtilChains": True,
            "syncFrequency": "10s",
            "nodeStatusUpdateFrequency": "5s",
            "nodeStatusReportFrequency": "1m",
        },
    )
    return [
        str(binaries.tool("kubelet")),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={layout.kubelet_dir}",
        f"--cert-dir={layout.kubelet_dir / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={layout.node_ip}",
        "--v=1",
    ]


def _resolv_conf(layout: NodeLayout) -> Path:
    path = layout.directory / "resolv.conf"
    path.write_text("# no resolver of the machine: Pods get the cluster's DNS only (clusterDNS)\n")
    return path


def kube_proxy_argv(layout: NodeLayout, kubeconfig: Path) -> list[str]:
    config = _json(
        layout.directory / "kube-proxy.json",
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clusterCIDR": layout.pod_cidr,
            "hostnameOverride": NODE_NAME,
            "bindAddress": layout.node_ip,
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "metricsBindAddress": "127.0.0.1:10249",
            "healthzBindAddress": "127.0.0.1:10256",
            # 0: leave the kernel's conntrack settings alone (nf_conntrack_max is machine-wide)
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"syncPeriod": "30s", "minSyncPeriod": "0s"},
            "nodePortAddresses": [f"{layout.node_ip}/32"],
        },
    )
    return [str(binaries.tool("kube-proxy")), f"--config={config}", "--v=1"]


def scheduler_argv(layout: NodeLayout, kubeconfig: Path) -> list[str]:
    config = _json(
        layout.directory / "kube-scheduler.json",
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "leaderElection": {"leaderElect": False},
        },
    )
    return [
        str(binaries.tool("kube-scheduler")),
        f"--config={config}",
        "--bind-address=127.0.0.1",
        # its probes' port, inside the node's network namespace; without delegated authentication (no lookups of
        # the extension-apiserver-authentication ConfigMap) the health endpoints are all it serves
        "--secure-port=10259",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--authentication-skip-lookup=true",
        "--v=1",
    ]


def coredns_argv(layout: NodeLayout, kubeconfig: Path) -> list[str]:
    corefile = layout.directory / "Corefile"
    zones = f"{CLUSTER_DOMAIN} in-addr.arpa ip6.arpa"
    corefile.write_text(
        f"""# The cluster's DNS (devstack.node): names of the cluster only; nothing is forwarded off the machine.
{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {layout.node_ip}
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes {zones} {{
        kubeconfig {kubeconfig} devstack
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
"""
    )
    return [str(binaries.tool("coredns")), "-conf", str(corefile)]


def provisioner_argv(kubeconfig: Path) -> list[str]:
    return [
        str(binaries.tool("local-path-provisioner")),
        "start",
        f"--kubeconfig={kubeconfig}",
        "--namespace=kube-system",
        "--configmap-name=local-path-config",
        "--service-account-name=local-path-provisioner",
        f"--provisioner-name={PROVISIONER}",
        "--helper-image=docker.io/library/debian:bookworm-slim",
    ]
