"""`python -m devstack up|down|status|demo`: the local stack as a background service for humans.

`up` builds what is missing (first run only: the Go tools and the images), then starts a detached supervisor
process that owns the servers (they die with it, even on SIGKILL) and keeps state, kubeconfig and logs under
``.devstack/`` in the repository. The stack is the control plane with a real node (devstack.node) and S3. `down`
stops the supervisor and checks that no server, port or trace of the node (processes, cgroups, its link and
route, mounts) is left behind. `demo` is `up` plus the operator's chart, the sample workloads and a tour.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack import binaries

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 600.0  # seconds for the supervisor to report ready (binaries and images are built before it starts)


def state_dir() -> Path:
    return Path(os.environ.get("REDISBACKUP_DEVSTACK_DIR") or REPO / ".devstack").resolve()


def _state_file(directory: Path) -> Path:
    return directory / "state.json"


def read_state(directory: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(_state_file(directory).read_text())
    except (OSError, ValueError):
        return None
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a running supervisor.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


# ----------------------------------------------------------------------------------------------------- commands
def up(directory: Path, *, demo: bool = False) -> int:
    state = read_state(directory)
    if state and _alive(state["pid"]) and demo and not state.get("demo"):
        print("the local stack runs without the demo's services: restarting it with them")
        down(directory)
        state = None
    if state and _alive(state["pid"]):
        print(f"the local stack is already running (supervisor pid {state['pid']})")
        _print_access(state)
        return 0
    if state:
        down(directory, quiet=True)  # a supervisor that died: clear what it left
    for tools in (binaries.KUBERNETES, binaries.SEAWEEDFS, binaries.COREDNS, binaries.LOCAL_PATH, binaries.HELM):
        binaries.build(tools)  # in the foreground, so a first-run build shows its progress
    from devstack import images

    for image in images.RUNTIME:
        image.ensure()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    log = (directory / "logs" / "supervisor.log").open("ab")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "devstack.supervisor", str(directory), *(["--demo"] if demo else [])],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the terminal: Ctrl-C in the shell does not reach it
    )
    print(f"starting the local stack (logs: {directory / 'logs'}) …", flush=True)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        state = read_state(directory)
        if state and state.get("pid") == supervisor.pid and state.get("ready"):
            break
        if supervisor.poll() is not None or time.monotonic() > deadline:
            if supervisor.poll() is None:
                supervisor.terminate()
            tail = "\n".join((directory / "logs" / "supervisor.log").read_text(errors="replace").splitlines()[-30:])
            print(f"the local stack did not start; last lines of {directory / 'logs' / 'supervisor.log'}:\n{tail}")
            return 1
        time.sleep(0.1)
    print(f"local stack up in {state['startup_seconds']:.1f}s (supervisor pid {state['pid']})")
    _print_access(state)
    return 0


def down(directory: Path, *, quiet: bool = False) -> int:
    state = read_state(directory)
    if state is None:
        if not quiet:
            print("the local stack is not running")
        return 0
    pid = state["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)  # its servers die with it (PR_SET_PDEATHSIG)
    leftovers = _wait_gone(state.get("children", []))
    busy = [f"{host}:{port}" for host, port in state.get("listening", []) if _listening(host, port)]
    node_left = _node_leftovers(state.get("node"))
    _state_file(directory).unlink(missing_ok=True)
    if leftovers or busy or node_left:
        print(f"after stopping, processes {leftovers} still run, {busy} still listen, the node left {node_left}")
        return 1
    if not quiet:
        print("local stack stopped")
    return 0


def status(directory: Path) -> int:
    state = read_state(directory)
    if not state or not _alive(state["pid"]):
        print("the local stack is not running; start it with `make demo` or `python -m devstack up`")
        return 3
    from devstack.cluster import Cluster

    ready = Cluster(Path(state["kubeconfig"])).kubectl("get", "--raw=/readyz", check=False)
    print(f"supervisor pid {state['pid']}; kube-apiserver /readyz: {ready.stdout.strip() or ready.stderr.strip()}")
    _print_access(state)
    return 0 if ready.returncode == 0 else 1


def demo(directory: Path) -> int:
    """The stack with Redis workloads and the operator, then the samples of manifests/samples/ (devstack.demo)."""
    if code := up(directory, demo=True):
        return code
    from devstack.demo import tour

    state = read_state(directory)
    assert state is not None
    return tour(state)


# ----------------------------------------------------------------------------------------------------- helpers
def _print_access(state: dict[str, Any]) -> None:
    print(f"  kubeconfig:   {state['kubeconfig']}")
    print(f"  apiserver:    {state['server']}")
    if node := state.get("node"):
        print(f"  node:         {node['name']} at {node['ip']} (containerd), Pods in {node['pod_cidr']}")
    if s3 := state.get("s3"):
        print(f"  S3 endpoint:  {s3['endpoint_url']} (bucket {s3.get('bucket', '-')}, region {s3.get('region', '-')})")
    print(f"  environment:  source {state['env_file']}  (KUBECONFIG, PATH with kubectl and helm, AWS_* for S3)")


def _still_ours(child: dict[str, Any]) -> bool:
    """Whether the recorded child still runs (and its pid was not reused by another program since)."""
    try:
        argv0 = Path(f"/proc/{child['pid']}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return False
    return argv0 == child["argv0"] and _alive(child["pid"])


def _wait_gone(children: list[dict[str, Any]], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [c["pid"] for c in children if _still_ours(c)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def _node_leftovers(node: dict[str, Any] | None) -> list[str]:
    """What the node left; a supervisor killed without stopping leaves its containers, which are removed here."""
    if not node:
        return []
    from devstack.node import leftovers
    from devstack.node.network import reap_slot

    found = leftovers(
        node["slot"], node.get("mount_namespace", ""), Path(node["directory"]), node.get("net_namespace", "")
    )
    if found and reap_slot(node["slot"]):
        shutil.rmtree(node["directory"], ignore_errors=True)
        found = leftovers(
            node["slot"], node.get("mount_namespace", ""), Path(node["directory"]), node.get("net_namespace", "")
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "demo"])
    args = parser.parse_args(argv)
    directory = state_dir()
    commands = {"up": up, "down": down, "status": status, "demo": demo}
    return commands[args.command](directory)


if __name__ == "__main__":
    sys.exit(main())
