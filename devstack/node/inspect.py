"""What runs on the node, seen from this machine: each container's processes found through the node's cgroups
(the kubelet puts a container's processes in ``<cgroupRoot>/kubepods/…/pod<uid>/<container id>``) and named through
the API (a Pod's status lists its containers' IDs). Tests use it to check that Pods are real containers: their
own mount namespace, the user the image or securityContext says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config

CGROUP = Path("/sys/fs/cgroup/pids")


@dataclass(frozen=True)
class Task:
    pid: int
    state: str  # R, S, D, Z, …
    name: str


@dataclass(frozen=True)
class ContainerProcess:
    namespace: str
    pod: str
    container: str
    container_id: str
    pid: int
    uid: int
    mount_namespace: str
    command: str

    def tasks(self) -> list[Task]:
        """Every process of the container (its cgroup's), with its state: a Z is a zombie nobody reaped."""
        cgroup = Path(f"/proc/{self.pid}/cgroup").read_text()
        path = next(line.split(":", 2)[2] for line in cgroup.splitlines() if ":pids:" in line)
        found = []
        for pid in (CGROUP / path.lstrip("/") / "cgroup.procs").read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
            found.append(Task(int(pid), rest[0], name))
        return found

    @property
    def own_mount_namespace(self) -> bool:
        return self.mount_namespace != str(Path("/proc/self/ns/mnt").readlink())


def container_processes(kubeconfig: Path, cgroup_root: str) -> Iterator[ContainerProcess]:
    """The first process (the container's init) of every running container of the node's Pods."""
    with config.new_client_from_config(config_file=str(kubeconfig)) as api:
        pods = client.CoreV1Api(api).list_pod_for_all_namespaces().items
    names: dict[str, tuple[str, str, str]] = {}
    for pod in pods:
        for status in [*(pod.status.init_container_statuses or []), *(pod.status.container_statuses or [])]:
            if status.container_id:
                names[status.container_id.split("://", 1)[1]] = (pod.metadata.namespace, pod.metadata.name, status.name)
    base = CGROUP / cgroup_root.lstrip("/") / "kubepods"
    for procs in sorted(base.rglob("cgroup.procs")) if base.is_dir() else []:
        container_id = procs.parent.name
        if container_id not in names:
            continue  # a Pod's own cgroup, or a sandbox (pause)
        try:
            pid = int(procs.read_text().split()[0])
            status = Path(f"/proc/{pid}/status").read_text()
            uid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))
            mount_namespace = str(Path(f"/proc/{pid}/ns/mnt").readlink())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError, StopIteration):
            continue  # exited meanwhile
        namespace, pod_name, container = names[container_id]
        yield ContainerProcess(namespace, pod_name, container, container_id, pid, uid, mount_namespace, command)
