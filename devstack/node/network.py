"""The node's own namespaces and network: everything the node does happens in a mount and network namespace of its
own, so that nothing it creates outlives it and several nodes (a test session's, `make demo`'s, another
engineer's) run side by side on one machine.

- **Slots.** Each node claims a slot N (1…250) with an flock on ``~/.cache/redisbackup/nodes/N.lock``, held for
  its lifetime; the kernel drops the lock when its owner dies, however it dies. A slot gives the node its addresses
  and names: the link 10.243.N.0/30 (host side .1, node side .2), the Pod network 10.244.N.0/24, the host's end of
  the link ``rbnodeN`` and the cgroup ``/rbnodeN``. What a node created is recorded next to the lock; whoever
  claims the slot next first removes what a crashed owner left (processes, cgroups, the link).
- **Namespaces.** A holder process (``unshare --mount --net sleep infinity``) owns a network namespace and a
  private mount namespace; every node process (containerd, kubelet, kube-proxy, …) enters both (`nsenter`). The
  bridge, the Pods' veths, kube-proxy's and the kubelet's iptables rules and the containers' mounts all live
  there: the kernel removes them when the last process in them is gone. Inside, tmpfs file systems cover /run
  (containerd's shim sockets), /var/log (the kubelet's /var/log/containers links) and /var/lib/cni (the CNI
  result cache), and the kernel settings the kubelet insists on writing (vm.overcommit_memory, kernel.panic,
  kernel.panic_on_oops, …: they are machine-wide) are files of the node's own, so the machine's are never changed.
- **Routes.** The host reaches the Pod network through the link (the apiserver calls webhooks at Pod addresses,
  tests talk to Redis Pods). The node has no default route: Pods reach the host's end of the link (the apiserver,
  S3) and each other, and nothing else. Service addresses (10.96.0.0/16) exist only in the node's iptables.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devstack.binaries import cache_root
from devstack.processes import Process

SERVICE_CIDR = "10.96.0.0/16"
SLOTS = range(1, 251)
CGROUP_ROOT = Path("/sys/fs/cgroup")
# The kubelet writes these machine-wide settings unless they already have these values (it has no "warn only"
# mode); inside the node's mount namespace they are files of its own.
KERNEL_SETTINGS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
PRIVATE_DIRECTORIES = ("/run", "/var/log", "/var/lib/cni")


def registry() -> Path:
    return cache_root() / "nodes"


@dataclass
class Slot:
    """A claimed slot: its number, and the lock that holds it."""

    index: int
    _lock: IO[str] = field(repr=False)

    @property
    def name(self) -> str:
        return f"rbnode{self.index}"

    @property
    def host_ip(self) -> str:
        return f"10.243.{self.index}.1"

    @property
    def node_ip(self) -> str:
        return f"10.243.{self.index}.2"

    @property
    def link_cidr(self) -> str:
        return f"10.243.{self.index}.0/30"

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def cgroup(self) -> str:
        return f"/{self.name}"

    @property
    def record(self) -> Path:
        return registry() / f"{self.index}.json"

    @property
    def store(self) -> Path:
        """What nodes of this slot keep between runs (containerd's image store)."""
        return registry() / str(self.index)

    @classmethod
    def claim(cls) -> Slot:
        """The lowest free slot whose addresses no route of this machine uses (so its image store is likely to be
        filled already); leftovers of a dead owner removed."""
        registry().mkdir(parents=True, exist_ok=True)
        used = _routed_prefixes()
        for index in SLOTS:
            if f"10.243.{index}." in used or f"10.244.{index}." in used:
                continue
            lock = (registry() / f"{index}.lock").open("a")  # close-on-exec: children never hold it
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            slot = cls(index, lock)
            reap(slot)
            if f"10.243.{index}." in _routed_prefixes():  # a link that is not ours (and not a leftover)
                slot.release()
                continue
            return slot
        raise RuntimeError("no free node slot: 250 nodes run on this machine, or their addresses are routed")

    def remember(self, **facts: Any) -> None:
        """Record what this node created, for `reap` after a crash."""
        known: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(self.record.read_text())
        known.update(facts, owner=os.getpid())
        self.record.write_text(json.dumps(known, indent=2) + "\n")

    def release(self) -> None:
        self.record.unlink(missing_ok=True)
        self._lock.close()


def _routed_prefixes() -> str:
    result = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True, check=False)
    addresses = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False)
    return result.stdout + addresses.stdout


def reap_slot(index: int) -> bool:
    """Remove what a dead node of slot `index` left; False when a live node holds the slot."""
    registry().mkdir(parents=True, exist_ok=True)
    with (registry() / f"{index}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        reap(Slot(index, lock))
    return True


def reap(slot: Slot) -> None:
    """Remove what a node of this slot left when its owner died without stopping it."""
    try:
        facts: dict[str, Any] = json.loads(slot.record.read_text())
    except (OSError, ValueError):
        facts = {}
    namespace = facts.get("mount_namespace")
    kill_processes(cgroup_pids(slot.cgroup) | (namespace_pids(namespace) if namespace else set()))
    remove_cgroup(slot.cgroup)
    subprocess.run(["ip", "link", "delete", slot.name], capture_output=True, check=False)
    if facts.get("created_cni_dir"):
        with contextlib.suppress(OSError):
            Path("/var/lib/cni").rmdir()
    slot.record.unlink(missing_ok=True)


# ----------------------------------------------------------------------------------------------------- namespaces
@dataclass
class NodeNamespaces:
    """The node's mount and network namespaces, held by one process; `argv` runs a program inside them."""

    slot: Slot
    directory: Path
    log_dir: Path
    holder: Process | None = None
    mount_namespace: str = ""
    net_namespace: str = ""
    _created_cni_dir: bool = False

    def create(self) -> NodeNamespaces:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.holder = Process(
            "node-namespaces",
            ["unshare", "--mount", "--net", "--propagation", "private", "--", "sleep", "infinity"],
            log_dir=self.log_dir,
        )
        deadline = time.monotonic() + 10
        while (namespace := self._namespace_of(self.holder.pid)) == self._namespace_of(os.getpid()):
            if not self.holder.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"unshare did not make the node's namespaces: {self.holder.log_tail()}")
            time.sleep(0.01)
        self.mount_namespace = namespace
        self.net_namespace = str(Path(f"/proc/{self.holder.pid}/ns/net").readlink())
        self.slot.remember(mount_namespace=namespace, cgroup=self.slot.cgroup, link=self.slot.name)
        self._private_files()
        self._link()
        return self

    @staticmethod
    def _namespace_of(pid: int) -> str:
        try:
            return str(Path(f"/proc/{pid}/ns/mnt").readlink())
        except OSError:
            return ""

    def argv(self, argv: Sequence[str], *, cwd: Path | None = None) -> list[str]:
        """`argv` run inside the node's namespaces (nsenter execs it: the pid stays the program's)."""
        assert self.holder is not None
        return [
            "nsenter",
            f"--target={self.holder.pid}",
            "--mount",
            "--net",
            f"--wd={cwd or self.directory}",
            "--",
            *argv,
        ]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(argv), capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"in the node's namespaces, `{' '.join(argv)}` failed: {result.stderr.strip()}")
        return result

    def _private_files(self) -> None:
        settings = self.directory / "kernel-settings"
        settings.mkdir(exist_ok=True)
        script = ["set -e"]
        if not Path("/var/lib/cni").exists():  # the mount point must exist; it is removed again at the end
            Path("/var/lib/cni").mkdir(parents=True)
            self._created_cni_dir = True
            self.slot.remember(created_cni_dir=True)
        for directory in PRIVATE_DIRECTORIES:
            script.append(f"mount -t tmpfs -o mode=0755,size=256m devstack-node {directory}")
        for name, value in KERNEL_SETTINGS.items():
            own = settings / name.replace("/", ".")
            own.write_text(value + "\n")
            script.append(f"mount --bind {own} /proc/sys/{name}")
        self.run("sh", "-c", "\n".join(script))

    def _link(self) -> None:
        slot, inside = self.slot, f"{self.slot.name}n"
        assert self.holder is not None
        for command in (
            ["ip", "link", "add", slot.name, "type", "veth", "peer", "name", inside],
            ["ip", "link", "set", inside, "netns", str(self.holder.pid)],
            ["ip", "addr", "add", f"{slot.host_ip}/30", "dev", slot.name],
            ["ip", "link", "set", slot.name, "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)
        self.run(
            "sh",
            "-c",
            "\n".join(
                [
                    "set -e",
                    "ip link set lo up",
                    f"ip link set {inside} name eth0",
                    f"ip addr add {slot.node_ip}/30 dev eth0",
                    "ip link set eth0 up",
                    # Service addresses are rewritten by kube-proxy's rules; this route only lets the node's own
                    # programs send to them (a local packet needs a route before the rules see it): on the link,
                    # where nothing answers for them. No default route.
                    f"ip route add {SERVICE_CIDR} dev eth0",
                    "sysctl -q -w net.ipv4.ip_forward=1",
                    # Pod to Service to a Pod on the same bridge: the reply must pass the rules too.
                    "sysctl -q -w net.bridge.bridge-nf-call-iptables=1",
                    "sysctl -q -w net.bridge.bridge-nf-call-ip6tables=1",
                ]
            ),
        )
        subprocess.run(
            ["ip", "route", "add", slot.pod_cidr, "via", slot.node_ip, "dev", slot.name],
            check=True,
            capture_output=True,
        )

    def destroy(self) -> None:
        """Kill every process in the namespaces, then the holder: the kernel drops the namespaces, their mounts,
        interfaces, rules and routes."""
        if self.mount_namespace:
            kill_processes(namespace_pids(self.mount_namespace) - {os.getpid()})
        if self.holder is not None:
            self.holder.stop()
        # The host's end of the link goes with its peer; the route with the link.
        subprocess.run(["ip", "link", "delete", self.slot.name], capture_output=True, check=False)
        if self._created_cni_dir:
            with contextlib.suppress(OSError):
                Path("/var/lib/cni").rmdir()


# ----------------------------------------------------------------------------------------------------- processes
def namespace_pids(namespace: str) -> set[int]:
    """Every process in `namespace` (as /proc/PID/ns/KIND reads, e.g. mnt:[4026532] or net:[4026533]).

    Shims of containerd are reparented to init when containerd stops, so they are found by namespace, not by parent.
    """
    kind = namespace.split(":", 1)[0]
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str((entry / "ns" / kind).readlink()) == namespace:
                    found.add(int(entry.name))
    return found


def kill_processes(pids: set[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _exists(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# ----------------------------------------------------------------------------------------------------- cgroups
def _hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies (v1 controllers, the named systemd one, the unified one)."""
    mounts: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _device, target, kind, *_ = line.split()
            if kind in ("cgroup", "cgroup2"):
                mounts.append(Path(target))
    return mounts


def create_cgroup(path: str) -> None:
    """`path` in every hierarchy (the kubelet checks that its cgroupRoot exists); cpuset gets its parent's CPUs and
    memory nodes, without which no task could join it or its children."""
    for hierarchy in _hierarchies():
        directory = hierarchy / path.lstrip("/")
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            own, parent = directory / name, directory.parent / name
            if own.exists() and not own.read_text().strip():
                own.write_text(parent.read_text())


def cgroup_pids(path: str) -> set[int]:
    found: set[int] = set()
    for hierarchy in _hierarchies():
        base = hierarchy / path.lstrip("/")
        if base.is_dir():
            for procs in base.rglob("cgroup.procs"):
                with contextlib.suppress(OSError, ValueError):
                    found |= {int(pid) for pid in procs.read_text().split()}
    return found


def remove_cgroup(path: str, timeout: float = 10.0) -> None:
    """Remove `path` and everything under it in every hierarchy, deepest first (a cgroup goes once it is empty)."""
    deadline = time.monotonic() + timeout
    for hierarchy in _hierarchies():
        base = hierarchy / path.lstrip("/")
        if not base.is_dir():
            continue
        deepest_first = sorted((d for d in base.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts))
        for directory in [*deepest_first, base]:
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    kill_processes(cgroup_pids(path))
                    time.sleep(0.05)


@contextlib.contextmanager
def claimed() -> Iterator[Slot]:
    slot = Slot.claim()
    try:
        yield slot
    finally:
        slot.release()


def which(program: str) -> str:
    found = shutil.which(program) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / program).exists()), None
    )
    if found is None:
        raise FileNotFoundError(f"{program} is not installed (make node-packages installs the node's packages)")
    return found
