"""containerd, runc and the CNI plugins from Debian, configured for one node: everything under the node's directories.

containerd runs with a configuration of its own (state, sockets, CNI configuration and runc's state under the
node's directory; the node's namespaces give it a private /run for the shims' sockets), so it never meets the
machine's /var/lib/containerd or another node's. Its root (the image store) is kept per slot in
``~/.cache/redisbackup/nodes/<N>/containerd``: importing the images is most of a node's start-up (tens of seconds
for the operator's image), so a node that finds them imported by an earlier node of its slot skips that. Only images
survive: containers a previous node left are removed before the CRI plugin starts (`purge`), and images no longer
wanted (an operator image of an older tree) are removed. Two settings these machines need (see /work/shared/NODE.md):
``restrict_oom_score_adj`` (no CAP_SYS_RESOURCE: without it every sandbox fails with "can't get final child's PID
from pipe") and a locally built sandbox image. Images come from the archives of `devstack.images`
(``ctr images import``): no registry is reachable, and every Pod uses ``imagePullPolicy: IfNotPresent`` (or a
digest-free tag that is present).

The network: a bridge ``cni0`` in the node's namespace with host-local addresses from the slot's Pod network,
hairpin mode (a Pod reaching itself through its Service) and portmap (hostPort).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.images import Image
from devstack.node.network import NodeNamespaces, which
from devstack.processes import Process

NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
CNI_BIN = "/usr/lib/cni"  # Debian's containernetworking-plugins


@dataclass
class Containerd:
    directory: Path
    root: Path
    """The image store, kept between nodes of the same slot."""
    namespaces: NodeNamespaces
    pod_cidr: str
    sandbox_image: str
    log_dir: Path
    process: Process | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "containerd.sock"

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60.0) -> Containerd:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._purge(timeout)
        self.process = self._spawn("containerd", self._write_config(), timeout)
        return self

    def _spawn(self, name: str, config: Path, timeout: float) -> Process:
        argv = [which("containerd"), f"--config={config}", "--log-level=warn"]
        process = Process(name, self.namespaces.argv(argv), log_dir=self.log_dir)
        process.wait_ready(self._answers, timeout, f"serving at {self.socket}")
        return process

    def _purge(self, timeout: float) -> None:
        """Remove the containers (and their snapshots) a previous node of this slot left in the image store, with
        the CRI plugin off: it would otherwise recover them as sandboxes for this node's kubelet."""
        if not (self.root / "io.containerd.metadata.v1.bolt").exists():
            return
        maintenance = self._write_config(cri_on=False)
        process = self._spawn("containerd-purge", maintenance, timeout)
        try:
            if leftovers := self.containers():
                self.ctr("containers", "delete", *leftovers)
        finally:
            process.stop(timeout=15)
            self.socket.unlink(missing_ok=True)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(self.socket))
        return self.ctr("version", check=False).returncode == 0

    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [which("ctr"), f"--address={self.socket}", f"--namespace={NAMESPACE}", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"`ctr {' '.join(args)}` failed: {result.stderr.strip()}")
        return result

    def import_images(self, images: Sequence[Image], *, keep: Sequence[Image] = ()) -> float:
        """Import the images' docker-archives (every tag in them) unless the store has them from an earlier node;
        with `keep`, remove every image that is none of these (older builds). Return the seconds it took."""
        began = time.monotonic()
        record = self.root / "devstack-images.json"
        try:
            imported: dict[str, str] = json.loads(record.read_text())
        except (OSError, ValueError):
            imported = {}
        present = set(self.images())
        wanted = {tag for image in (*images, *keep) for tag in image.tags}
        for image in images:
            if imported.get(image.name) == image.key and all(tag in present for tag in image.tags):
                continue
            self.ctr("images", "import", str(image.ensure()))
            imported[image.name] = image.key
            record.write_text(json.dumps(imported, indent=2) + "\n")
        if keep and (stale := sorted(present - wanted)):
            self.ctr("images", "remove", *stale)
        return time.monotonic() - began

    def images(self) -> list[str]:
        return self.ctr("images", "list", "--quiet").stdout.split()

    def containers(self) -> list[str]:
        return self.ctr("containers", "list", "--quiet", check=False).stdout.split()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=15)

    # ------------------------------------------------------------------------------------------- configuration
    def _write_config(self, *, cri_on: bool = True) -> Path:
        d = self.directory
        cni_conf = d / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-devstack.conflist").write_text(json.dumps(self._cni(), indent=2) + "\n")
        (d / "certs.d").mkdir(exist_ok=True)  # no registry mirrors: nothing is pulled
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        disabled = "" if cri_on else ' "io.containerd.grpc.v1.cri",'
        runc = f"{cri}.containerd.runtimes.runc"
        text = f"""# containerd for the devstack node (devstack.node.runtime); every path is the node's own.
version = 2
root = "{self.root}"
state = "{d / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing",{disabled}
]

[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{d / "containerd.sock.ttrpc"}"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"

[{cri}]
  sandbox_image = "{self.sandbox_image}"
  # No CAP_SYS_RESOURCE here: without it every sandbox fails ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # Pod network namespaces are mounted under the state directory, not the machine's /var/run/netns.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  enable_selinux = false
  max_container_log_line_size = 16384
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{runc}]
      runtime_type = "io.containerd.runc.v2"
      [{runc}.options]
        SystemdCgroup = false
        BinaryName = "{which("runc")}"
        Root = "{d / "runc"}"
  [{cri}.cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
  [{cri}.registry]
    config_path = "{d / "certs.d"}"
"""
        config = d / ("config.toml" if cri_on else "config-maintenance.toml")
        config.write_text(text)
        return config

    def _cni(self) -> dict[str, object]:
        return {
            "cniVersion": "0.4.0",
            "name": "devstack",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,  # Pod addresses are routed from the host; nothing is hidden behind the node
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_cidr}]],
                        # Pods route everything to the bridge; the node routes only what exists on this machine
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.directory / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
