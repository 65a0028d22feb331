"""A real, local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager, on this machine only.

    with ControlPlane.started(workdir) as kube:      # or: kube = ControlPlane(workdir); kube.start(); kube.stop()
        print(kube.kubeconfig)                        # an admin kubeconfig (bearer token in system:masters)

What runs, and why it is configured so:
- etcd on 127.0.0.1 with free ports and ``--unsafe-no-fsync`` (a test cluster; durability buys nothing here).
- kube-apiserver on 127.0.0.1 only (or, for a real node, on the address the stack gave the node's link: see
  devstack.node), secure port only, a serving certificate from a CA made per start, token
  authentication (static tokens for the admin and the controller-manager; ServiceAccount tokens from TokenRequest,
  signed with a key made per start) and ``Node,RBAC`` authorization: permissions behave as in a real cluster.
- kube-controller-manager with only the controllers the project relies on: the garbage collector (backups must
  outlive deleted workloads), namespace deletion, ServiceAccounts (each namespace's ``default`` ServiceAccount,
  which Pod admission requires) and the root CA publisher (``kube-root-ca.crt``, as in every real namespace).
  Each controller uses its own ServiceAccount credentials, as kubeadm clusters do. The workload controllers
  (StatefulSet, ReplicaSet, …) stay off on purpose: no kubelet runs, so `devstack.mirror` writes Pod and
  StatefulSet status itself, and nothing may overwrite it. With `with_node=True` (devstack.node: a kubelet runs)
  the workload controllers run too (`NODE_CONTROLLERS`), the `kubernetes` Service's endpoints point at the
  apiserver's address (Pods reach it through kube-proxy, as in any cluster), NodeRestriction admission is on, and
  the apiserver has a client certificate for the kubelet's API (logs, exec, port-forward).
- Nothing is tuned away that users see: all built-in APIs and the default admission plugins stay on. Only the
  APIServer's own priority-and-fairness bookkeeping and the profiling handlers are off (start-up time is paid by
  every test session).

Every process dies with its owner (see `devstack.processes`); `stop()` checks that the ports are free again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import shutil
import socket
import ssl
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devstack import binaries
from devstack.net import free_port
from devstack.processes import Process, StartupError, install_cleanup_handlers
from devstack.tls import CertificateAuthority

HOST = "127.0.0.1"
SERVICE_CIDR = "10.96.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = "garbagecollector,namespace,serviceaccount,serviceaccount-token,root-ca-cert-publisher"
# What a node needs besides: the workload controllers, Services' endpoints, the node's lifecycle (its not-ready taint
# is lifted only by nodelifecycle), volumes (PersistentVolumeClaims of StatefulSets and of the chart) and clean-up.
NODE_CONTROLLERS = ",".join(
    [
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
        "ttl-after-finished",
        "disruption",
        "endpoint",
        "endpointslice",
        "endpointslicemirroring",
        "nodelifecycle",
        "podgc",
        "persistentvolume-binder",
        "persistentvolume-expander",
        "pv-protection",
        "pvc-protection",
        "attachdetach",
        "ephemeral-volume",
    ]
)
ADMIN_USER = "devstack-admin"
START_ATTEMPTS = 3  # free_port() can race with another process taking the port before the server binds it


@dataclass
class Endpoints:
    """Where the control plane listens; fixed at start so a restart never moves it."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    host: str = HOST
    """The apiserver's address (etcd stays on loopback)."""

    @classmethod
    def pick(cls, host: str = HOST) -> Endpoints:
        return cls(etcd_client=free_port(HOST), etcd_peer=free_port(HOST), apiserver=free_port(host), host=host)

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.apiserver}"

    def ports(self) -> list[int]:
        return [self.etcd_client, self.etcd_peer, self.apiserver]


@dataclass
class ControlPlane:
    """A local control plane in `workdir` (a fresh temporary directory when None)."""

    workdir: Path | None = None
    bin_dir: Path | None = None  # defaults to the cached build (devstack.binaries)
    timeout: float = 90.0
    host: str = HOST
    """The apiserver's address: loopback, or an address of the node's link (devstack.node)."""
    with_node: bool = False
    """A kubelet joins: workload controllers, the `kubernetes` Service's endpoints, NodeRestriction (see above)."""
    identities: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """More users with a static token (user → groups), e.g. the node's `system:node:<name>` in `system:nodes`;
    `identity_kubeconfig(user)` is a kubeconfig for one."""
    endpoints: Endpoints = field(init=False)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    startup_seconds: float = 0.0
    _processes: list[Process] = field(default_factory=list)
    _own_workdir: bool = False

    # ------------------------------------------------------------------------------------------- public API
    @classmethod
    @contextlib.contextmanager
    def started(cls, workdir: Path | None = None, **kwargs: object) -> Iterator[ControlPlane]:
        plane = cls(workdir=workdir, **kwargs)  # type: ignore[arg-type]
        plane.start()
        try:
            yield plane
        finally:
            plane.stop()

    def __post_init__(self) -> None:
        self.endpoints = Endpoints.pick(self.host)

    @property
    def server(self) -> str:
        return self.endpoints.server

    def identity_kubeconfig(self, user: str) -> Path:
        """The kubeconfig of one of `identities` (written at start)."""
        if user not in self.identities:
            raise KeyError(f"{user} is not an identity of this control plane")
        return self._dir / "identities" / f"{user.replace(':', '-')}.kubeconfig"

    @property
    def kubeconfig(self) -> Path:
        return self._dir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self._dir / "pki" / "ca.crt"

    @property
    def log_dir(self) -> Path:
        return self._dir / "logs"

    def start(self) -> ControlPlane:
        """Start etcd, kube-apiserver and kube-controller-manager; return once the cluster is usable."""
        install_cleanup_handlers()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="redisbackup-kube-"))
            self._own_workdir = True
        began = time.monotonic()
        self._write_credentials()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_processes()
                break
            except StartupError as failure:
                self._stop_processes()
                if attempt == START_ATTEMPTS or not failure.port_taken:
                    self._teardown()
                    raise
                self.endpoints = Endpoints.pick(self.host)
                self._write_kubeconfigs()
            except BaseException:  # Ctrl-C during start-up must not leave servers behind
                self._teardown()
                raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop every process (controller-manager first, etcd last) and check that the ports are free again."""
        if busy := self._teardown():
            raise RuntimeError(f"control plane stopped but ports {busy} still accept connections")

    def _teardown(self) -> list[int]:
        """Stop the processes, drop the cluster's data; return the ports that still accept connections."""
        self._stop_processes()
        if self.workdir is not None:
            # The cluster's state never outlives it (start() begins with an empty etcd); logs and pki stay.
            shutil.rmtree(self.workdir if self._own_workdir else self.workdir / "etcd", ignore_errors=True)
        ends = self.endpoints
        return [p for p in ends.ports() if _listening(ends.host if p == ends.apiserver else HOST, p)]

    def is_ready(self) -> bool:
        return self._get("/readyz") == 200

    def restart_apiserver(self, *, down_seconds: float = 0.0) -> None:
        """Stop kube-apiserver (SIGTERM, as a rolling upgrade does), keep etcd and every port, start it again.

        Clients see their watches end and their requests refused for `down_seconds` plus the start-up; the
        cluster's state (etcd) and the kubeconfig stay valid, so a client that reconnects finds everything as it was.
        """
        index = next(i for i, p in enumerate(self._processes) if p.name.startswith("kube-apiserver"))
        self._processes[index].stop()
        time.sleep(down_seconds)
        restarted = Process(f"kube-apiserver-{time.monotonic_ns()}", self._processes[index].argv, log_dir=self.log_dir)
        self._processes[index] = restarted
        restarted.wait_ready(self.is_ready, self.timeout, "ready again (/readyz)")

    @property
    def processes(self) -> list[Process]:
        """The running servers, in start order (etcd, kube-apiserver, kube-controller-manager)."""
        return list(self._processes)

    # ------------------------------------------------------------------------------------------- internals
    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("the control plane has no working directory until start()")
        return self.workdir

    def _binary(self, program: str) -> Path:
        return self.bin_dir / program if self.bin_dir else binaries.tool(program)

    def _write_credentials(self) -> None:
        pki = self._dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority("redisbackup-devstack-kube-ca")
        names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
        ca.issue(pki, "apiserver", [self.host, HOST, "localhost", *names, "10.96.0.1"])
        if self.with_node:  # the apiserver's identity towards the kubelet's API (logs, exec, port-forward)
            ca.issue(pki, "apiserver-kubelet-client", [], client=True, organization="system:masters")
            (pki / "ca.key").write_bytes(
                ca.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            (pki / "ca.key").chmod(0o600)
        key = ec.generate_private_key(ec.SECP256R1())
        (pki / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        (pki / "sa.key").chmod(0o600)
        (pki / "sa.pub").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        self._controller_token = secrets.token_urlsafe(32)
        self._identity_tokens = {user: secrets.token_urlsafe(32) for user in self.identities}
        # token,user,uid,"groups": the controller-manager gets its real identity (bound by bootstrap RBAC).
        lines = [
            f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"',
            f"{self._controller_token},system:kube-controller-manager,system:kube-controller-manager",
        ]
        for user, token in self._identity_tokens.items():
            groups = ",".join(self.identities[user])
            lines.append(f'{token},{user},{user},"{groups}"' if groups else f"{token},{user},{user}")
        (pki / "tokens.csv").write_text("\n".join(lines) + "\n")
        (pki / "tokens.csv").chmod(0o600)
        self._write_kubeconfigs()

    def _write_kubeconfigs(self) -> None:
        cluster = {"server": self.server, "certificate-authority": str(self.ca_file)}
        write_kubeconfig(self.kubeconfig, cluster, self.admin_token, user=ADMIN_USER)
        manager = self._dir / "controller-manager.kubeconfig"
        write_kubeconfig(manager, cluster, self._controller_token, user="system:kube-controller-manager")
        for user, token in self._identity_tokens.items():
            write_kubeconfig(self.identity_kubeconfig(user), cluster, token, user=user)

    def _start_processes(self) -> None:
        etcd = self._spawn("etcd", self._etcd_args())
        etcd.wait_ready(lambda: _http_ok(f"http://{HOST}:{self.endpoints.etcd_client}/health"), self.timeout, "healthy")
        apiserver = self._spawn("kube-apiserver", self._apiserver_args())
        apiserver.wait_ready(self.is_ready, self.timeout, "ready (/readyz)")
        manager = self._spawn("kube-controller-manager", self._controller_manager_args())
        # The ServiceAccount controller creating `default` proves the controller-manager works; Pod admission
        # needs that ServiceAccount, so tests could not create Pods in `default` before it exists anyway.
        manager.wait_ready(
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") == 200,
            self.timeout,
            "running (the `default` ServiceAccount exists)",
        )

    def _spawn(self, program: str, args: list[str]) -> Process:
        process = Process(program, [str(self._binary(program)), *args], log_dir=self.log_dir)
        self._processes.append(process)
        return process

    def _stop_processes(self) -> None:
        while self._processes:
            self._processes.pop().stop()

    def _etcd_args(self) -> list[str]:
        client = f"http://{HOST}:{self.endpoints.etcd_client}"
        peer = f"http://{HOST}:{self.endpoints.etcd_peer}"
        data = self._dir / "etcd"
        shutil.rmtree(data, ignore_errors=True)  # a new cluster each start: no state from a previous run
        return [
            "--name=devstack",
            f"--data-dir={data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=devstack={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self) -> list[str]:
        pki = self._dir / "pki"
        node: list[str] = []
        if self.with_node:
            node = [
                # The `kubernetes` Service's endpoints are this address: Pods reach the API through its ClusterIP.
                "--endpoint-reconciler-type=lease",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        else:
            # One apiserver and no kubelets: nothing to reconcile the `kubernetes` Endpoints against.
            node = ["--endpoint-reconciler-type=none"]
        return [
            f"--etcd-servers=http://{HOST}:{self.endpoints.etcd_client}",
            f"--bind-address={self.host}",
            f"--advertise-address={self.host}",
            f"--secure-port={self.endpoints.apiserver}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={pki / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--api-audiences={ISSUER}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            *node,
            # Webhooks (and aggregated APIs) behind a Service are called at an address from its EndpointSlices,
            # not at its ClusterIP: no kube-proxy routes ClusterIPs here (devstack.localpod writes the slices).
            "--enable-aggregator-routing=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=1",
        ]

    def _controller_manager_args(self) -> list[str]:
        pki = self._dir / "pki"
        kubeconfig = self._dir / "controller-manager.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--controllers={CONTROLLERS + (',' + NODE_CONTROLLERS if self.with_node else '')}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            # No HTTPS endpoint of its own: it would need another port and nothing here scrapes it.
            "--secure-port=0",
            "--v=1",
        ]

    def _get(self, path: str) -> int:
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.admin_token}"})
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code


def write_kubeconfig(path: Path, cluster: Mapping[str, object], token: str, *, user: str, namespace: str = "") -> Path:
    """A kubeconfig for `user` with a bearer token; `cluster` is its clusters[] entry (server, CA, …).

    JSON is valid YAML, so no YAML writer is needed.
    """
    context: dict[str, str] = {"cluster": "devstack", "user": user}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devstack", "cluster": dict(cluster)}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "devstack", "context": context}],
        "current-context": "devstack",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def main() -> None:
    """`python -m devstack.kube`: start, print the start-up time and kubeconfig, stop on Enter or Ctrl-C."""
    with ControlPlane.started() as kube:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        print(f"{stamp} control plane ready in {kube.startup_seconds:.1f}s; KUBECONFIG={kube.kubeconfig}")
        with contextlib.suppress(KeyboardInterrupt, EOFError):
            input("press Enter to stop ")


if __name__ == "__main__":
    main()
