"""A real Kubernetes node on this machine, joined to the local control plane: kubelet + containerd + runc + CNI,
kube-proxy (iptables), kube-scheduler, CoreDNS and a local-path provisioner. Pods are real containers from the
images of `devstack.images`.

    with RealCluster.started(workdir) as cluster:     # the control plane, then the node; stopped in reverse order
        cluster.kubeconfig                            # admin kubeconfig; the apiserver at cluster.slot.host_ip
        cluster.node.wait_ready()

How it fits on a shared machine (details in devstack.node.network): the node claims a slot (its addresses and
names), runs every program inside a mount and network namespace of its own, and reaches the host through a veth
link; the apiserver listens on the host's end of that link, so Pods reach it through the `kubernetes` Service like
in any cluster, and the host routes the slot's Pod network to the node, so the apiserver calls webhooks at Pod
addresses. Stopping kills the node's processes (its cgroup and its namespaces), and the kernel removes the rest:
no process, mount, bridge, network namespace, iptables rule or CNI state remains; `leftovers()` says otherwise.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import images as image_registry
from devstack.images import Image
from devstack.kube import ControlPlane
from devstack.node import components
from devstack.node.components import NODE_NAME, USERS, NodeLayout
from devstack.node.network import (
    NodeNamespaces,
    Slot,
    cgroup_pids,
    create_cgroup,
    kill_processes,
    namespace_pids,
    remove_cgroup,
)
from devstack.node.runtime import Containerd
from devstack.processes import Process, install_cleanup_handlers

ADDONS = Path(__file__).resolve().parent / "addons.yaml"


@dataclass
class Node:
    """The node's programs, started in its namespaces against `plane` (a ControlPlane with_node on the link)."""

    plane: ControlPlane
    namespaces: NodeNamespaces
    directory: Path
    images: Sequence[Image] = image_registry.RUNTIME
    timeout: float = 120.0
    containerd: Containerd | None = None
    processes: list[Process] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def slot(self) -> Slot:
        return self.namespaces.slot

    @property
    def log_dir(self) -> Path:
        return self.plane.log_dir

    @property
    def layout(self) -> NodeLayout:
        return NodeLayout(
            directory=self.directory,
            node_ip=self.slot.node_ip,
            pod_cidr=self.slot.pod_cidr,
            cgroup=self.slot.cgroup,
            ca_file=self.plane.ca_file,
            runtime_endpoint=f"unix://{self.directory / 'containerd' / 'containerd.sock'}",
        )

    def start(self) -> Node:
        began = time.monotonic()
        for image in self.images:
            image.ensure()  # built before anything starts (first run only)
        create_cgroup(self.slot.cgroup)
        self.containerd = Containerd(
            self.directory / "containerd",
            self.slot.store / "containerd",
            self.namespaces,
            self.slot.pod_cidr,
            image_registry.PAUSE_TAG,
            self.log_dir,
        ).start()
        self.timings["images"] = self.containerd.import_images(self.images, keep=tuple(image_registry.ALL.values()))
        layout = self.layout
        self._spawn(
            "kubelet", components.kubelet_argv(layout, self.plane.identity_kubeconfig(f"system:node:{NODE_NAME}"))
        )
        self._apply_addons(layout)
        self._spawn("kube-scheduler", components.scheduler_argv(layout, self._identity("system:kube-scheduler")))
        self._spawn("kube-proxy", components.kube_proxy_argv(layout, self._identity("system:kube-proxy")))
        self._spawn("coredns", components.coredns_argv(layout, self._identity("devstack:coredns")))
        self._spawn(
            "local-path-provisioner", components.provisioner_argv(self._identity("devstack:local-path-provisioner"))
        )
        self.wait_ready()
        self.timings["start"] = time.monotonic() - began
        return self

    def load_images(self, images: Sequence[Image]) -> None:
        """Make more images available to Pods (e.g. other Redis versions than the default set)."""
        assert self.containerd is not None
        self.containerd.import_images(images)

    def _identity(self, user: str) -> Path:
        return self.plane.identity_kubeconfig(user)

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = Process(name, self.namespaces.argv(argv), log_dir=self.log_dir)
        self.processes.append(process)
        return process

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        from devstack.binaries import tool

        argv = [str(tool("kubectl")), f"--kubeconfig={self.plane.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"`kubectl {' '.join(args)}` failed: {result.stderr.strip()}")
        return result

    def _apply_addons(self, layout: NodeLayout) -> None:
        layout.volumes.mkdir(parents=True, exist_ok=True)
        manifest = string.Template(ADDONS.read_text()).safe_substitute(
            DNS_SERVICE_IP=components.DNS_SERVICE_IP,
            NODE_IP=layout.node_ip,
            NODE_NAME=NODE_NAME,
            STORAGE_CLASS=components.STORAGE_CLASS,
            PROVISIONER=components.PROVISIONER,
            VOLUMES=str(layout.volumes),
        )
        self.kubectl("apply", "--server-side", "-f", "-", input=manifest)

    # ------------------------------------------------------------------------------------------- readiness
    def node_object(self) -> dict[str, Any]:
        result = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if result.returncode != 0:
            return {}
        node: dict[str, Any] = json.loads(result.stdout)
        return node

    def is_ready(self) -> bool:
        node = self.node_object()
        conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions", [])}
        taints = (node.get("spec") or {}).get("taints") or []
        return conditions.get("Ready") == "True" and not taints

    def wait_ready(self) -> None:
        """Ready, untainted (nodelifecycle lifts not-ready), DNS answering, every node program still running."""
        deadline = time.monotonic() + self.timeout
        checks = [("Ready and untainted", self.is_ready), ("answering DNS", self._dns_ready)]
        for what, check in checks:
            while True:
                for process in self.processes:
                    if not process.alive():
                        raise RuntimeError(
                            f"{process.name} exited with {process.popen.returncode} while the node started; last "
                            f"lines of {process.log_path}:\n{process.log_tail()}"
                        )
                with contextlib.suppress(Exception):
                    if check():
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"node {NODE_NAME} was not {what} after {self.timeout:.0f}s; logs in {self.log_dir}"
                    )
                time.sleep(0.25)

    def _dns_ready(self) -> bool:
        """CoreDNS's readiness endpoint (inside the node's network namespace): its Kubernetes caches are synced."""
        probe = "import urllib.request as u; u.urlopen('http://127.0.0.1:8181/ready', timeout=2).read()"
        return self.namespaces.run(sys.executable, "-c", probe, check=False).returncode == 0

    # ------------------------------------------------------------------------------------------- stopping
    def stop(self) -> None:
        """Stop every program (all at once: nothing here needs another to stop first), then containerd; kill every
        container (they are in the node's cgroup). The Pods need no graceful end: the whole node goes."""
        for process in self.processes:
            process.signal(signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop(timeout=5)
        self.processes.clear()
        kill_processes(cgroup_pids(self.slot.cgroup))
        if self.containerd is not None:
            self.containerd.stop()


@dataclass
class RealCluster:
    """The local control plane with a real node: what `make demo` and the node tests run on."""

    workdir: Path
    images: Sequence[Image] = image_registry.RUNTIME
    slot: Slot | None = None
    namespaces: NodeNamespaces | None = None
    plane: ControlPlane | None = None
    node: Node | None = None
    startup_seconds: float = 0.0
    slot_index: int = 0
    mount_namespace: str = ""
    net_namespace: str = ""

    @classmethod
    @contextlib.contextmanager
    def started(cls, workdir: Path, **kwargs: Any) -> Iterator[RealCluster]:
        cluster = cls(workdir, **kwargs)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    def start(self) -> RealCluster:
        install_cleanup_handlers()
        began = time.monotonic()
        try:
            self.slot = Slot.claim()
            node_dir = self.workdir / "node"
            self.slot_index = self.slot.index
            self.namespaces = NodeNamespaces(self.slot, node_dir, self.workdir / "logs")
            self.namespaces.create()
            self.mount_namespace = self.namespaces.mount_namespace
            self.net_namespace = self.namespaces.net_namespace
            self.plane = ControlPlane(
                workdir=self.workdir, host=self.slot.host_ip, with_node=True, identities=USERS
            ).start()
            self.node = Node(self.plane, self.namespaces, node_dir, images=self.images).start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the node, its namespaces, the control plane; remove the node's files; release the slot. Every step
        runs even if an earlier one failed (the first failure is raised at the end)."""
        node, namespaces, plane, slot = self.node, self.namespaces, self.plane, self.slot
        self.node = self.plane = self.namespaces = None
        steps = [
            node.stop if node is not None else None,
            namespaces.destroy if namespaces is not None else None,
            (lambda: remove_cgroup(slot.cgroup)) if slot is not None else None,
            plane.stop if plane is not None else None,
            # Files only remain (the kernel dropped the mounts with the namespace); Pods' volumes included.
            (lambda: shutil.rmtree(self.workdir / "node", ignore_errors=True)) if namespaces is not None else None,
            slot.release if slot is not None else None,
        ]
        failure: BaseException | None = None
        for step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception as error:  # every step must run
                failure = failure or error
        self.slot = None
        if failure is not None:
            raise failure

    def leftovers(self) -> list[str]:
        """What of this node still exists on the machine (empty after `stop`): for tests and `make demo-down`."""
        return leftovers(self.slot_index, self.mount_namespace, self.workdir / "node", self.net_namespace)


def leftovers(
    slot_index: int, mount_namespace: str = "", directory: Path | None = None, net_namespace: str = ""
) -> list[str]:
    """What a stopped node of slot `slot_index` left on this machine: processes (in its mount or network namespace
    or its cgroup), its network namespace kept by a mount, cgroups, its link and route, iptables rules of the host
    that name its link or its addresses, mounts under its directory, the directory itself. (The bridge, the Pods'
    veths and kube-proxy's and the kubelet's rules live in the node's network namespace: gone with it.)"""
    name = f"rbnode{slot_index}"
    found: list[str] = []
    if mount_namespace and (pids := namespace_pids(mount_namespace)):
        found.append(f"processes in the node's mount namespace: {sorted(pids)}")
    if net_namespace and (pids := namespace_pids(net_namespace)):
        found.append(f"processes in the node's network namespace: {sorted(pids)}")
    if net_namespace:
        inode = net_namespace.removeprefix("net:[").rstrip("]")
        mountinfo = Path("/proc/self/mountinfo").read_text()
        found += [
            f"network namespace kept by mount {line}" for line in mountinfo.splitlines() if f"net:[{inode}]" in line
        ]
    found += [f"iptables rule {rule}" for rule in host_rules(name, slot_index)]
    if pids := cgroup_pids(f"/{name}"):
        found.append(f"processes in cgroup /{name}: {sorted(pids)}")
    found += [f"cgroup {h}/{name}" for h in _cgroup_mounts() if Path(h, name).exists()]
    if subprocess.run(["ip", "link", "show", name], capture_output=True, check=False).returncode == 0:
        found.append(f"link {name}")
    routes = subprocess.run(["ip", "route", "show", f"10.244.{slot_index}.0/24"], capture_output=True, text=True)
    if routes.stdout.strip():
        found.append(f"route {routes.stdout.strip()}")
    if directory is not None:
        mounts = Path("/proc/self/mounts").read_text()
        found += [f"mount {line}" for line in mounts.splitlines() if str(directory) in line]
        if directory.exists():
            found.append(f"directory {directory}")
    return found


def host_rules(link: str, slot_index: int) -> list[str]:
    """The host's iptables rules (both families) that name the node's link or its addresses: none are made."""
    marks = (link, f"10.243.{slot_index}.", f"10.244.{slot_index}.")
    rules = []
    for program in ("iptables-save", "ip6tables-save"):
        if shutil.which(program) is None:
            continue
        dump = subprocess.run([program], capture_output=True, text=True, check=False).stdout
        rules += [line for line in dump.splitlines() if line.startswith("-A") and any(m in line for m in marks)]
    return rules


def _cgroup_mounts() -> list[str]:
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if parts[2] in ("cgroup", "cgroup2"):
                mounts.append(parts[1])
    return mounts
