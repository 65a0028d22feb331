"""The ElastiCache API as a child process: `redisbackup serve`, under a ServiceAccount with the chart's rights only.

Used by the pytest fixtures (devstack.fixtures.elasticache_api) and `make demo`:

    api = start(cluster, log_dir, keys_namespace="redisbackup-api")
    key = api.issue_key(cluster, service_account=("team-a", "backup-bot"))
    api.aws_env(key)       # AWS_ENDPOINT_URL_ELASTICACHE, AWS_CA_BUNDLE, the key: for `aws elasticache …`
    api.boto3(key)         # an ElastiCache client

The server runs as ServiceAccount `redisbackup-api` of the keys namespace, with exactly what the chart grants it
(`SERVER_RULES`: read access key Secrets there, impersonate ServiceAccounts and users), so tests see the same
refusals a cluster would. Its certificate is its own (a CA it makes), whose bundle it writes to `ca_file`.
"""

from __future__ import annotations

import contextlib
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from devstack.cluster import Cluster
from devstack.net import free_port
from devstack.processes import Process

SERVER_ACCOUNT = "redisbackup-api"
REGION = "us-east-1"
# What the chart grants the API server (charts/redisbackup/templates/elasticache-api-rbac.yaml; a test compares):
# impersonating the identities keys name, cluster-wide; reading and publishing in its own namespace.
IMPERSONATION_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["users", "serviceaccounts"], "verbs": ["impersonate"]},
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
]
OWN_NAMESPACE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "patch"]},
]
# What a key's identity needs to use every action in its namespace (the README's Role for API users).
CALLER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["redisbackup.io"],
        "resources": ["redisbackups"],
        "verbs": ["get", "list", "create", "delete", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "patch"]},
    {"apiGroups": ["apps"], "resources": ["statefulsets"], "verbs": ["get", "list", "patch"]},
]


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret_access_key: str
    namespace: str
    user: str


@dataclass
class RunningApi:
    process: Process
    url: str
    ca_file: Path
    keys_namespace: str
    region: str
    metrics_port: int

    def aws_env(self, key: Key | None = None, **extra: str) -> dict[str, str]:
        """The environment `aws elasticache` needs: the endpoint, the CA, the key, and no user configuration."""
        env = {
            "AWS_ENDPOINT_URL_ELASTICACHE": self.url,
            "AWS_CA_BUNDLE": str(self.ca_file),
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_MAX_ATTEMPTS": "1",
        }
        if key is not None:
            env.update(AWS_ACCESS_KEY_ID=key.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret_access_key)
        env.update(extra)
        return env

    def boto3(self, key: Key, *, secret: str | None = None, token: str | None = None, retries: int = 1) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "elasticache",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=secret if secret is not None else key.secret_access_key,
            aws_session_token=token,
            verify=str(self.ca_file),
            config=Config(retries={"max_attempts": retries, "mode": "standard"}),
        )

    def issue_key(
        self,
        kube: Cluster,
        *,
        service_account: tuple[str, str],
        key_id: str | None = None,
        secret: str | None = None,
        work_namespace: str | None = None,
    ) -> Key:
        """`redisbackup create-access-key` for a ServiceAccount (NAMESPACE, NAME), as an administrator runs it."""
        import json
        import subprocess

        namespace, name = service_account
        argv = [
            sys.executable, "-m", "redisbackup.cli.main", "create-access-key", "-n", self.keys_namespace,
            "--service-account", f"{namespace}/{name}",
            *(("--access-key-id", key_id) if key_id else ()),
            *(("--secret-access-key", secret) if secret else ()),
            *(("--work-namespace", work_namespace) if work_namespace else ()),
        ]  # fmt: skip
        result = subprocess.run(
            argv, env={"KUBECONFIG": str(kube.kubeconfig), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"create-access-key failed ({result.returncode}): {result.stderr}")
        issued = json.loads(result.stdout)["AccessKey"]
        return Key(issued["AccessKeyId"], issued["SecretAccessKey"], issued["Namespace"], issued["UserName"])

    def answers(self) -> bool:
        """Whether the server answers over TLS with its CA (an unsigned request: 403 MissingAuthenticationToken)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            urllib.request.urlopen(self.url, timeout=2, context=context)
        except urllib.error.HTTPError as error:
            return error.code == 403
        return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text: str = response.read().decode()
        return text

    def stop(self) -> None:
        self.process.stop()

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)


def _apply(api: client.ApiClient, body: Mapping[str, Any]) -> None:
    """Create `body`, or leave the existing object (these RBAC objects never change within a run)."""
    rbac, core = client.RbacAuthorizationV1Api(api), client.CoreV1Api(api)
    kind, namespace = body["kind"], body["metadata"].get("namespace")
    create = {
        "ServiceAccount": lambda: core.create_namespaced_service_account(namespace, body),
        "Role": lambda: rbac.create_namespaced_role(namespace, body),
        "RoleBinding": lambda: rbac.create_namespaced_role_binding(namespace, body),
        "ClusterRole": lambda: rbac.create_cluster_role(body),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(body),
    }[kind]
    try:
        create()
    except client.ApiException as error:
        if error.status != 409:
            raise


def grant(
    kube: Cluster, namespace: str, account: str, rules: Sequence[Mapping[str, Any]], *, name: str | None = None
) -> None:
    """ServiceAccount `namespace/account`, and a Role of `rules` in `namespace` bound to it."""
    role = name or f"{account}-role"
    subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    with kube.api_client() as api:
        _apply(api, {"kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}})
        _apply(api, {"kind": "Role", "metadata": {"name": role, "namespace": namespace}, "rules": list(rules)})
        _apply(
            api,
            {
                "kind": "RoleBinding",
                "metadata": {"name": role, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [subject],
            },
        )


def _grant_server(kube: Cluster, namespace: str) -> None:
    grant(kube, namespace, SERVER_ACCOUNT, OWN_NAMESPACE_RULES)
    cluster_role = f"redisbackup-api-impersonator-{namespace}"
    with kube.api_client() as api:
        _apply(api, {"kind": "ClusterRole", "metadata": {"name": cluster_role}, "rules": IMPERSONATION_RULES})
        _apply(
            api,
            {
                "kind": "ClusterRoleBinding",
                "metadata": {"name": cluster_role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
                "subjects": [{"kind": "ServiceAccount", "name": SERVER_ACCOUNT, "namespace": namespace}],
            },
        )


def revoke_server(kube: Cluster, namespace: str) -> None:
    """Remove the cluster-wide grant made for the server of `namespace` (its namespace's objects go with it)."""
    name = f"redisbackup-api-impersonator-{namespace}"
    with kube.api_client() as api:
        rbac = client.RbacAuthorizationV1Api(api)
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
            with contextlib.suppress(client.ApiException):
                delete(name)


def start(
    kube: Cluster,
    log_dir: Path,
    *,
    keys_namespace: str,
    region: str = REGION,
    args: Sequence[str] = (),
    host: str = "127.0.0.1",
    timeout: float = 60.0,
    token_seconds: int = 3600,
    cluster_rights: bool = True,
) -> RunningApi:
    """`redisbackup serve` as ServiceAccount redisbackup-api of `keys_namespace`; returns once it answers.
    Without `cluster_rights`, the server has only its own namespace's (no impersonation, no TokenReview)."""
    if cluster_rights:
        _grant_server(kube, keys_namespace)
    else:
        grant(kube, keys_namespace, SERVER_ACCOUNT, OWN_NAMESPACE_RULES)
    port, metrics_port = free_port(host), free_port("127.0.0.1")
    kubeconfig = kube.kubeconfig_for(
        keys_namespace, SERVER_ACCOUNT, log_dir / f"api-{port}.kubeconfig", seconds=token_seconds
    )
    ca_file = log_dir / f"api-{port}-ca.crt"
    argv = [
        sys.executable, "-m", "redisbackup.cli.main", "serve",
        "--listen", f"{host}:{port}", "--metrics-listen", f"127.0.0.1:{metrics_port}",
        "--region", region, "--keys-namespace", keys_namespace, "--ca-file", str(ca_file),
        "--tls-host", host, "--tls-host", "localhost", *args,
    ]  # fmt: skip
    process = Process(f"elasticache-api-{port}", argv, log_dir=log_dir, env={"KUBECONFIG": str(kubeconfig)})
    running = RunningApi(process, f"https://{host}:{port}", ca_file, keys_namespace, region, metrics_port)
    process.wait_ready(lambda: ca_file.exists() and running.answers(), timeout=timeout, what="serving HTTPS")
    return running


DEMO_KEYS_NAMESPACE = "redisbackup"
DEMO_ACCOUNT = "elasticache-user"


def start_for_demo(
    kube: Cluster,
    log_dir: Path,
    *,
    namespace: str,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    args: Sequence[str] = (),
) -> tuple[RunningApi, Key]:
    """`make demo`'s API: keys in namespace `redisbackup`, and one key — the demo's S3 credentials, so the same
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY work for `aws s3` and `aws elasticache` — bound to ServiceAccount
    `elasticache-user` of `namespace`, which may do what an API user needs there (CALLER_RULES)."""
    if DEMO_KEYS_NAMESPACE not in kube.kubectl("get", "namespaces", "-o", "name").stdout.split():
        kube.kubectl("create", "namespace", DEMO_KEYS_NAMESPACE)
    grant(kube, namespace, DEMO_ACCOUNT, CALLER_RULES)
    # The demo runs for days: its server's token must outlive the default hour.
    api = start(
        kube, log_dir, keys_namespace=DEMO_KEYS_NAMESPACE, region=region, args=args, token_seconds=30 * 24 * 3600
    )
    key = api.issue_key(kube, service_account=(namespace, DEMO_ACCOUNT), key_id=access_key_id, secret=secret_access_key)
    return api, key
