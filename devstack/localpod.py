"""Run a Deployment's Pod as a local process, as a kubelet would: the chart's own Pod spec, not a test's idea of it.

No kubelet (and no container engine) runs on the local control plane. `LocalPod` takes the Pod template of a
Deployment read back from the apiserver and does what the ReplicaSet controller, the kubelet and the endpoint
controller would, on this machine:

- creates the Pod object (the template's spec, never bound to a node) and writes its status: Running, Ready, with a
  127.0.0.x address of its own as podIP;
- writes an EndpointSlice for every Service that selects the Pod, so the apiserver calls a webhook Service at the
  Pod (with --enable-aggregator-routing). The slice's addressType is FQDN holding the IP literal: IPv4 slices refuse
  loopback addresses, and the apiserver dials the first address whatever its type;
- materialises the volumes under a directory of its own: configMap and secret volumes (their keys as files),
  emptyDir and persistentVolumeClaim as plain directories;
- starts the container's process: the image's ENTRYPOINT/CMD from the Dockerfile combined with the container's
  command/args (devstack.image), the container's env (value, fieldRef, secretKeyRef, configMapKeyRef, `$(VAR)`
  expansion) and the image's ENV, authenticated as the Pod's ServiceAccount by a TokenRequest token, so only the
  RBAC granted to that ServiceAccount applies;
- answers the container's probes (httpGet, tcpSocket) against the Pod's address.

A container sees absolute paths; here each mount lives under the Pod's directory. Env values and the files of
configMap volumes that name a mount path are rewritten to the local directory, and "0.0.0.0" to the Pod's address
(inside a Pod's network namespace, all interfaces are its own address; here that keeps servers on loopback).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import socket
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from devstack import mirror
from devstack.cluster import Cluster
from devstack.image import ImageConfig, image_config
from devstack.net import next_host
from devstack.processes import Process

SLICE_MANAGER = "devstack.redisbackup.io"
IMAGE_PREFIX = "/opt/redisbackup/bin"  # where the image's virtual environment puts the console scripts


@dataclass
class LocalPod:
    kube: Cluster
    deployment: Mapping[str, Any]
    root: Path
    log_dir: Path
    suffix: str = "local"
    image: ImageConfig = field(default_factory=image_config)
    ip: str = ""
    process: Process | None = None
    _mounts: dict[str, Path] = field(default_factory=dict)
    _slices: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------- identity
    @property
    def namespace(self) -> str:
        return str(self.deployment["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return f"{self.deployment['metadata']['name']}-{self.suffix}"

    @property
    def template(self) -> dict[str, Any]:
        template: dict[str, Any] = self.deployment["spec"]["template"]
        return template

    @property
    def container(self) -> dict[str, Any]:
        container: dict[str, Any] = self.template["spec"]["containers"][0]
        return container

    def port(self, name: str) -> int:
        """A container port by its name (what a Service's targetPort or a probe refers to)."""
        for port in self.container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
        raise KeyError(f"container {self.container['name']} has no port named {name}")

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self, env: Mapping[str, str] | None = None) -> LocalPod:
        """Create the Pod and its endpoints, materialise its volumes and start its process."""
        self.ip = self._free_address()
        with self.kube.api_client() as api:
            self._create_pod(client.CoreV1Api(api))
            self._write_endpoints(api)
            self._materialise_volumes(client.CoreV1Api(api))
            container_env = self._container_env(client.CoreV1Api(api))
        service_account = self.template["spec"].get("serviceAccountName", "default")
        kubeconfig = self.kube.kubeconfig_for(self.namespace, service_account, self.root / "serviceaccount.kubeconfig")
        full_env = {**container_env, "KUBECONFIG": str(kubeconfig), **(env or {})}
        argv = self.argv(full_env)
        self.process = Process(f"pod-{self.name}", argv, log_dir=self.log_dir, env=full_env)
        return self

    def argv(self, env: Mapping[str, str]) -> list[str]:
        argv = self.image.argv(self.container)
        found = shutil.which(argv[0], path=env.get("PATH"))
        if found is None:
            raise FileNotFoundError(f"{argv[0]} (the image's command) is not on PATH {env.get('PATH')}")
        return [found, *argv[1:]]

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the startup probe (if any), then the readiness probe, as the kubelet gates a Pod's readiness."""
        assert self.process is not None
        for kind in ("startupProbe", "readinessProbe"):
            if kind in self.container:
                self.process.wait_ready(lambda kind=kind: self.probe(kind), timeout=timeout, what=f"passing its {kind}")

    def probe(self, kind: str) -> bool:
        """Run the container's `kind` probe (startupProbe, livenessProbe, readinessProbe) once."""
        spec = self.container[kind]
        if "httpGet" in spec:
            get = spec["httpGet"]
            port = self._probe_port(get["port"])
            url = f"{get.get('scheme', 'HTTP').lower()}://{self.ip}:{port}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=spec.get("timeoutSeconds", 1)) as response:
                    return bool(200 <= response.status < 400)
            except OSError:
                return False
        if "tcpSocket" in spec:
            with socket.socket() as probe:
                probe.settimeout(spec.get("timeoutSeconds", 1))
                return probe.connect_ex((self.ip, self._probe_port(spec["tcpSocket"]["port"]))) == 0
        raise NotImplementedError(f"{kind}: only httpGet and tcpSocket probes are emulated")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        with self.kube.api_client() as api:
            discovery = client.DiscoveryV1Api(api)
            for name in self._slices:
                with contextlib.suppress(client.ApiException):
                    discovery.delete_namespaced_endpoint_slice(name, self.namespace)
            with contextlib.suppress(client.ApiException):
                client.CoreV1Api(api).delete_namespaced_pod(self.name, self.namespace, grace_period_seconds=0)

    def log_tail(self, lines: int = 80) -> str:
        return self.process.log_tail(lines) if self.process is not None else ""

    def log(self) -> str:
        assert self.process is not None
        return self.process.log_path.read_text(errors="replace")

    # ------------------------------------------------------------------------------------------- the Pod object
    def _free_address(self) -> str:
        """A 127.0.0.x on which every container port is free (ports are the chart's, fixed, as in a Pod)."""
        ports = [int(p["containerPort"]) for p in self.container.get("ports") or []]
        for _attempt in range(50):
            host = next_host()
            if all(_free(host, port) for port in ports):
                return host
        raise RuntimeError(f"no 127.0.0.x address with ports {ports} free")

    def _create_pod(self, core: client.CoreV1Api) -> None:
        metadata = {"name": self.name, "labels": dict(self.template["metadata"].get("labels") or {})}
        core.create_namespaced_pod(self.namespace, {"metadata": metadata, "spec": self.template["spec"]})
        status = mirror.running_status(self.ip, [self.container["name"]], self.container["image"])
        core.patch_namespaced_pod_status(self.name, self.namespace, {"status": status})

    def _write_endpoints(self, api: client.ApiClient) -> None:
        labels = self.template["metadata"].get("labels") or {}
        discovery = client.DiscoveryV1Api(api)
        for service in client.CoreV1Api(api).list_namespaced_service(self.namespace).items:
            selector = service.spec.selector or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            ports = [
                {"name": p.name, "port": self._target_port(p.target_port), "protocol": p.protocol or "TCP"}
                for p in service.spec.ports or []
            ]
            name = f"{service.metadata.name}-{self.suffix}"[:63].rstrip("-")
            body = {
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/service-name": service.metadata.name,
                        "endpointslice.kubernetes.io/managed-by": SLICE_MANAGER,
                    },
                },
                "addressType": "FQDN",
                "endpoints": [
                    {
                        "addresses": [self.ip],
                        "conditions": {"ready": True, "serving": True, "terminating": False},
                        "targetRef": {"kind": "Pod", "name": self.name, "namespace": self.namespace},
                    }
                ],
                "ports": ports,
            }
            discovery.create_namespaced_endpoint_slice(self.namespace, body)
            self._slices.append(name)

    def _target_port(self, target: int | str | None) -> int:
        if isinstance(target, int):
            return target
        if target is None:
            raise ValueError("a Service port without targetPort")
        return int(target) if str(target).isdigit() else self.port(str(target))

    def _probe_port(self, port: int | str) -> int:
        return port if isinstance(port, int) else self.port(port)

    # ------------------------------------------------------------------------------------------- volumes and env
    def _materialise_volumes(self, core: client.CoreV1Api) -> None:
        volumes = {v["name"]: v for v in self.template["spec"].get("volumes") or []}
        files: dict[str, dict[str, str]] = {}
        for volume in volumes.values():
            directory = self.root / "volumes" / volume["name"]
            directory.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                data = core.read_namespaced_config_map(volume["configMap"]["name"], self.namespace).data or {}
                files[volume["name"]] = dict(data)
            elif "secret" in volume:
                secret = core.read_namespaced_secret(volume["secret"]["secretName"], self.namespace)
                files[volume["name"]] = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
            elif not ({"emptyDir", "persistentVolumeClaim"} & volume.keys()):
                raise NotImplementedError(f"volume {volume['name']}: {sorted(volume)} is not emulated")
        for mount in self.container.get("volumeMounts") or []:
            source = self.root / "volumes" / mount["name"]
            if mount.get("subPath"):
                raise NotImplementedError("subPath mounts are not emulated")
            self._mounts[mount["mountPath"].rstrip("/")] = source
        # Files last: their contents may name any mount.
        for name, data in files.items():
            for key, value in data.items():
                (self.root / "volumes" / name / key).write_text(self.localise(value))

    def localise(self, text: str) -> str:
        """`text` as seen from this machine: mount paths under the Pod's directory, every address of the Pod
        (0.0.0.0, and an empty listen address: the chart's dual-stack default) as the Pod's address."""
        if self._mounts:  # one pass: a local directory (under /tmp) must not be rewritten again
            paths = "|".join(re.escape(path) for path in sorted(self._mounts, key=len, reverse=True))
            pattern = r"(?<![\w/.-])(" + paths + r")(?=[/\s\"':]|$)"
            text = re.sub(pattern, lambda match: str(self._mounts[match.group(1)]), text, flags=re.MULTILINE)
        text = re.sub(r"(\bhost:\s*)(''|\"\")", rf"\g<1>{self.ip}", text)  # a config file's `host: ""`
        text = re.sub(r"^:(\d+)$", rf"{self.ip}:\1", text)  # a listen address `:PORT`
        return text.replace("0.0.0.0", self.ip)

    def _container_env(self, core: client.CoreV1Api) -> dict[str, str]:
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "status.podIP": self.ip,
            "spec.serviceAccountName": self.template["spec"].get("serviceAccountName", "default"),
        }
        env: dict[str, str] = {}
        for key, value in self.image.env.items():
            value = self.localise(value)
            if key == "PATH":  # the image's environment is this interpreter's
                # Added after localise: these are this machine's paths, and a checkout under /tmp is not the
                # Pod's /tmp.
                value = value.replace(IMAGE_PREFIX, str(Path(sys.executable).parent)) + os.environ.get("PATH", "")
            env[key] = value
        for variable in self.container.get("env") or []:
            if "value" in variable:
                value = _expand(variable["value"], env)
            else:
                source = variable["valueFrom"]
                if "fieldRef" in source:
                    value = fields[source["fieldRef"]["fieldPath"]]
                elif "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    secret = core.read_namespaced_secret(ref["name"], self.namespace)
                    value = base64.b64decode((secret.data or {})[ref["key"]]).decode()
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    value = (core.read_namespaced_config_map(ref["name"], self.namespace).data or {})[ref["key"]]
                else:
                    raise NotImplementedError(f"env {variable['name']}: {sorted(source)} is not emulated")
            env[variable["name"]] = self.localise(value)
        return env


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: earlier variables only; `$$` is a literal `$`; unknown ones stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, value)


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
