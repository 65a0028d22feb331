"""The process behind `python -m devstack up`: starts the local stack, records it, and stops it on SIGTERM.

    python -m devstack.supervisor <state dir> [--demo]

The stack: the control plane with a real node (devstack.node: kubelet, containerd, kube-proxy, CoreDNS, …) and S3
on the host's end of the node's link, where Pods reach it. It writes ``<state dir>/state.json`` once everything is
ready (the `up` command waits for that), and an ``env`` file to source. The servers are its children and die with
it, even if it is killed with SIGKILL (what the node leaves then is removed by the next node of its slot, or by
`down`). If a server dies on its own, the supervisor stops the rest and exits, so `status` never reports a
half-dead stack as up. With `--demo` it also installs the operator's chart and the sample Redis workloads
(devstack.demo), which run as Pods on the node, and the ElastiCache API (a child on the host).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from devstack import binaries
from devstack.node import RealCluster
from devstack.processes import Process
from devstack.s3 import S3Server, start_seaweedfs

DEMO_BUCKET = "redisbackup"


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n")
    temporary.replace(path)  # atomic: `up` never reads half a file


def _write_env(directory: Path, kubeconfig: Path, s3: S3Server, extra: dict[str, str] | None = None) -> Path:
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tools, program in ((binaries.KUBERNETES, "kubectl"), (binaries.HELM, "helm")):
        link = bin_dir / program
        link.unlink(missing_ok=True)
        if tools.is_built():  # helm comes with `make install`; the stack itself does not need it
            link.symlink_to(tools.path(program))
    env_file = directory / "env"
    lines = [f'export KUBECONFIG="{kubeconfig}"', f'export PATH="{bin_dir}:$PATH"']
    lines += [f'export {name}="{value}"' for name, value in s3.env().items()]  # aws CLI, boto3, redisbackup
    lines += [f'export {name}="{value}"' for name, value in (extra or {}).items()]  # the demo's ElastiCache API
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return env_file


def run(directory: Path, *, demo: bool = False) -> int:
    # Our handlers first: devstack.processes then leaves SIGTERM to us, and we stop in order, not abruptly.
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)
    began = time.monotonic()
    state_file = directory / "state.json"
    cluster = RealCluster(directory)
    s3: S3Server | None = None
    demo_processes: list[Process] = []
    try:
        cluster.start()
        plane, node = cluster.plane, cluster.node
        assert plane is not None
        assert node is not None
        assert cluster.slot is not None
        print(f"control plane and node ready in {cluster.startup_seconds:.1f}s at {plane.server}", flush=True)
        shutil.rmtree(directory / "seaweedfs", ignore_errors=True)  # a fresh stack each time, like etcd
        s3 = start_seaweedfs(directory, host=cluster.slot.host_ip)
        s3.create_bucket(DEMO_BUCKET)
        print(f"S3 ready at {s3.endpoint_url} (bucket {DEMO_BUCKET})", flush=True)
        processes: list[Process] = [*plane.processes, *node.processes, s3.process]
        demo_state = None
        demo_env: dict[str, str] = {}
        demo_listening: list[list[Any]] = []
        if demo:
            from devstack.demo import start_services  # imports the operator's stack only when asked

            services = start_services(cluster, s3)
            processes += services.processes
            demo_processes = services.processes
            demo_state = services.state()
            demo_env = services.env()
            api = services.elasticache_api
            demo_listening = [["127.0.0.1", int(api.url.rsplit(":", 1)[1])], ["127.0.0.1", api.metrics_port]]
            print(f"demo services ready: Redis workloads in namespace {demo_state['namespace']}, the operator's chart")
        slot = cluster.slot
        state = {
            "pid": os.getpid(),
            "ready": True,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "startup_seconds": time.monotonic() - began,
            "kubeconfig": str(plane.kubeconfig),
            "server": plane.server,
            "s3": {
                "endpoint_url": s3.endpoint_url,
                "region": s3.region,
                "bucket": DEMO_BUCKET,
                "access_key": s3.access_key,
                "secret_key": s3.secret_key,
            },
            "node": {
                "name": "devstack-node",
                "slot": slot.index,
                "ip": slot.node_ip,
                "host_ip": slot.host_ip,
                "pod_cidr": slot.pod_cidr,
                "cgroup": slot.cgroup,
                "mount_namespace": cluster.mount_namespace,
                "net_namespace": cluster.net_namespace,
                "directory": str(node.directory),
            },
            "env_file": str(_write_env(directory, plane.kubeconfig, s3, demo_env)),
            "logs": str(plane.log_dir),
            "children": [{"pid": p.pid, "argv0": _argv0(p)} for p in processes],
            "listening": [
                *(["127.0.0.1", port] for port in plane.endpoints.ports() if port != plane.endpoints.apiserver),
                [plane.endpoints.host, plane.endpoints.apiserver],
                [slot.host_ip, int(s3.endpoint_url.rsplit(":", 1)[1])],
                *demo_listening,
            ],
            "demo": demo_state,
        }
        _write_json(state_file, state)
        state_file.chmod(0o600)  # it holds the S3 secret key
        while all(p.alive() for p in processes):
            time.sleep(1.0)
        for process in (p for p in processes if not p.alive()):
            print(
                f"{process.name} exited with {process.popen.returncode}; last lines:\n{process.log_tail()}", flush=True
            )
        return 1
    except _Stop as stop:
        print(f"{stop}: stopping the local stack", flush=True)
        return 0
    finally:
        # Ignore further signals while stopping: a second Ctrl-C must not leave servers half-stopped.
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        for process in reversed(demo_processes):
            process.stop()
        if s3 is not None:
            s3.stop()
        cluster.stop()
        if left := cluster.leftovers():
            print(f"the node left: {left}", flush=True)
        if state_file.exists() and json.loads(state_file.read_text()).get("pid") == os.getpid():
            state_file.unlink()
        print("stopped", flush=True)


def _argv0(process: Process) -> str:
    """The program a child runs (after `nsenter` has entered the node's namespaces and exec'd it)."""
    argv = process.argv
    return argv[argv.index("--") + 1] if argv[0] == "nsenter" and "--" in argv else argv[0]


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), demo="--demo" in sys.argv[2:]))
