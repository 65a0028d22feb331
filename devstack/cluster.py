"""Access to a Kubernetes cluster by kubeconfig: the local control plane, or any cluster (kind, …) for e2e runs.

`Cluster` is what tests and the demo hold: admin API clients, a `kubectl` runner, fresh namespaces, and
kubeconfigs for ServiceAccounts (TokenRequest), so the operator can run with exactly its chart's permissions.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client, config

from devstack import binaries
from devstack.kube import ControlPlane, write_kubeconfig


class KubectlError(subprocess.CalledProcessError):
    def __str__(self) -> str:
        program = Path(self.cmd[0]).name
        return f"`{program} {' '.join(self.cmd[2:])}` exited with {self.returncode}: {self.stderr.strip()}"


@dataclass
class Cluster:
    kubeconfig: Path
    external: bool = False  # True: not our local control plane (a kubelet and a scheduler may run there)
    plane: ControlPlane | None = None  # the local control plane, for fault tests that restart its apiserver

    def api_client(self) -> client.ApiClient:
        """A new admin ApiClient (each caller gets its own: they are not thread-safe to share and close)."""
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    @property
    def server(self) -> str:
        return self._cluster_entry()["server"]

    def kubectl_path(self) -> Path:
        if self.external and (found := shutil.which("kubectl")):
            return Path(found)
        return binaries.tool("kubectl")

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raise with its stderr when `check` and it fails. `timeout` bounds the
        whole command: a command that waits (`rollout status`, `wait`) needs more than its own --timeout."""
        argv = [str(self.kubectl_path()), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run helm against this cluster; raise with its stderr when `check` and it fails."""
        argv = [str(binaries.tool("helm")), f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def rollout(self, namespace: str, *names: str, timeout: float = 300) -> None:
        """Wait until each `kind/name` has rolled out (Deployment, StatefulSet, DaemonSet) or completed (Job)."""
        # kubectl's own --timeout decides; the process limit only catches a kubectl that hangs beyond it.
        for name in names:
            if name.startswith("job"):
                self.kubectl(
                    "wait", "-n", namespace, "--for=condition=Complete", f"--timeout={timeout:.0f}s", name,
                    timeout=timeout + 30,
                )  # fmt: skip
            else:
                self.kubectl(
                    "rollout", "status", "-n", namespace, f"--timeout={timeout:.0f}s", name, timeout=timeout + 30
                )

    def pod_ips(self, namespace: str, selector: str) -> dict[str, str]:
        """Pod name → Pod IP of the Pods matching a label `selector` (a real node's Pod network is routed here)."""
        with self.api_client() as api:
            pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
        return {pod.metadata.name: pod.status.pod_ip for pod in pods if pod.status.pod_ip}

    def create_namespace(self, hint: str = "test", *, timeout: float = 30.0) -> str:
        """A new namespace named after `hint`, returned once its `default` ServiceAccount exists (Pods need it)."""
        name = namespace_name(hint)
        with self.api_client() as api:
            core = client.CoreV1Api(api)
            core.create_namespace({"metadata": {"name": name, "labels": {"redisbackup.io/test": "true"}}})
            deadline = time.monotonic() + timeout
            while not core.list_namespaced_service_account(name, field_selector="metadata.name=default").items:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"namespace {name}: no `default` ServiceAccount after {timeout:.0f}s")
                time.sleep(0.05)
        return name

    def delete_namespace(self, name: str) -> None:
        with self.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
            except client.ApiException as error:
                if error.status != 404:
                    raise

    def service_account_token(
        self, namespace: str, name: str, *, audiences: list[str] | None = None, seconds: int = 3600
    ) -> str:
        """A bound token for ServiceAccount `namespace/name` from the TokenRequest API."""
        spec: dict[str, object] = {"expirationSeconds": seconds}
        if audiences:
            spec["audiences"] = audiences
        with self.api_client() as api:
            response = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, {"spec": spec})
        token: str = response.status.token
        return token

    def kubeconfig_for(self, namespace: str, service_account: str, path: Path, *, seconds: int = 3600) -> Path:
        """A kubeconfig that authenticates as ServiceAccount `namespace/service_account` (and nothing more)."""
        token = self.service_account_token(namespace, service_account, seconds=seconds)
        entry: dict[str, object] = dict(self._cluster_entry())
        ca = entry.get("certificate-authority")
        if isinstance(ca, str):  # kubectl resolves a relative path against the kubeconfig's own directory
            entry["certificate-authority"] = str((self.kubeconfig.parent / ca).resolve())
        user = f"system:serviceaccount:{namespace}:{service_account}"
        return write_kubeconfig(path, entry, token, user=user, namespace=namespace)

    def _cluster_entry(self) -> dict[str, str]:
        document = yaml.safe_load(self.kubeconfig.read_text())
        current = document.get("current-context")
        context = next(c["context"] for c in document["contexts"] if c["name"] == current)
        entry: dict[str, str] = next(c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"])
        return entry


def namespace_name(hint: str) -> str:
    """A DNS-1123 label from a test name, unique per call: `t-<hint>-<5 hex>` (at most 63 characters)."""
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:48].strip("-") or "test"
    return f"t-{slug}-{secrets.token_hex(3)[:5]}"
