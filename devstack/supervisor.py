"""The process behind `python -m devstack up`: starts the local stack, records it, and stops it on SIGTERM.

    python -m devstack.supervisor <state dir> [--demo]

It writes ``<state dir>/state.json`` once everything is ready (the `up` command waits for that), and an ``env``
file to source. The servers are its children and die with it, even if it is killed with SIGKILL. If a server
dies on its own, the supervisor stops the rest and exits, so `status` never reports a half-dead stack as up.
With `--demo` it also starts the demo's Redis workloads and the operator (devstack.demo), as children too.
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
from devstack.kube import ControlPlane
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
    plane = ControlPlane(workdir=directory)
    s3: S3Server | None = None
    demo_processes: list[Process] = []
    try:
        plane.start()
        print(f"control plane ready in {plane.startup_seconds:.1f}s at {plane.server}", flush=True)
        shutil.rmtree(directory / "seaweedfs", ignore_errors=True)  # a fresh stack each time, like etcd
        s3 = start_seaweedfs(directory)
        s3.create_bucket(DEMO_BUCKET)
        print(f"S3 ready at {s3.endpoint_url} (bucket {DEMO_BUCKET})", flush=True)
        processes: list[Process] = [*plane.processes, s3.process]
        demo_state = None
        demo_env: dict[str, str] = {}
        operator_ports: list[int] = []
        if demo:
            from devstack.demo import start_services  # imports the operator's stack only when asked

            services = start_services(directory, plane.kubeconfig, s3, DEMO_BUCKET)
            processes += services.processes
            demo_processes = services.processes
            demo_state = services.state()
            demo_env = services.env()
            operator = services.operator
            operator_ports = [operator.webhook_port, operator.metrics_port, operator.health_port]
            api = services.elasticache_api
            operator_ports += [int(api.url.rsplit(":", 1)[1]), api.metrics_port]
            print(f"demo services ready: Redis workloads and the operator in namespace {demo_state['namespace']}")
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
            "env_file": str(_write_env(directory, plane.kubeconfig, s3, demo_env)),
            "logs": str(plane.log_dir),
            "children": [{"pid": p.pid, "argv0": p.argv[0]} for p in processes],
            "ports": [*plane.endpoints.ports(), int(s3.endpoint_url.rsplit(":", 1)[1]), *operator_ports],
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
        for process in reversed(demo_processes):  # the operator first: it stops gracefully, then the Redis nodes
            process.stop()
        if s3 is not None:
            s3.stop()
        plane.stop()
        if state_file.exists() and json.loads(state_file.read_text()).get("pid") == os.getpid():
            state_file.unlink()
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]), demo="--demo" in sys.argv[2:]))
