"""Where the apiserver is and who we are to it, read as kubectl reads it, without the official client's import.

`import kubernetes` takes about a second (every API model class, oauthlib, requests, …): most of the start-up of a
CLI command that makes one or two calls (`make bench`). This reads the same sources, in kubectl's order:

- no --kubeconfig/--context and a Pod's service account: KUBERNETES_SERVICE_HOST/PORT, its token and CA;
- else --kubeconfig, or the files of KUBECONFIG (merged: the first file naming a cluster, user or context wins, as
  kubectl merges them), or ~/.kube/config; the context --context names, else current-context.

What a kubectl user's kubeconfig holds is covered: server (with a path prefix), certificate-authority(-data),
insecure-skip-tls-verify, client-certificate(-data)/client-key(-data), token, tokenFile,
username/password, exec credential plugins (client.authentication.k8s.io) and impersonation (as, as-groups). A
kubeconfig that needs more (a proxy-url, a tls-server-name, an auth-provider such as OIDC's, whose token the client
refreshes) raises `Unsupported`, and the caller uses the official client, which reads those too.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = Path("~/.kube/config")


class ConfigError(Exception):
    """No usable configuration: the message says what is missing or wrong."""


class Unsupported(ConfigError):
    """The kubeconfig uses something only the official client reads (the caller falls back to it)."""


@dataclass
class Connection:
    """The apiserver's address, the TLS context that trusts it and carries our client certificate, and the headers
    (bearer token, basic auth, impersonation) every request sends."""

    server: str
    ssl_context: ssl.SSLContext | None  # None: a plain http:// server
    headers: dict[str, str] = field(default_factory=dict)
    namespace: str = "default"


def in_cluster() -> Connection | None:
    """The Pod's own service account, when this runs in a Pod that has one."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = SERVICE_ACCOUNT / "token"
    if not host or not port or not token_file.is_file():
        return None
    host = f"[{host}]" if ":" in host else host
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    token = token_file.read_text().strip()
    namespace_file = SERVICE_ACCOUNT / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else ""
    return Connection(
        f"https://{host}:{port}", context, {"Authorization": f"Bearer {token}"}, namespace=namespace or "default"
    )


def kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig is not None:
        return [Path(kubeconfig).expanduser()]
    listed = [Path(p).expanduser() for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [DEFAULT_KUBECONFIG.expanduser()]


@dataclass
class _Merged:
    current_context: str | None = None
    clusters: dict[str, tuple[dict[str, Any], Path]] = field(default_factory=dict)
    users: dict[str, tuple[dict[str, Any], Path]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # here: the in-cluster path never needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        loaded = yaml.load(path.read_text(), Loader=loader)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} is not a kubeconfig (a mapping)")
    return loaded


def _merged(kubeconfig: str | None) -> _Merged:
    merged = _Merged()
    found = False
    for path in kubeconfig_paths(kubeconfig):
        if not path.is_file():
            continue
        found = True
        document = _load_yaml(path)
        merged.current_context = merged.current_context or document.get("current-context") or None
        for key, into in (("clusters", merged.clusters), ("users", merged.users)):
            for entry in document.get(key) or []:
                if isinstance(entry, dict) and entry.get("name") not in into:
                    into[str(entry.get("name"))] = (dict(entry.get(key[:-1]) or {}), path.parent)
        for entry in document.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") not in merged.contexts:
                merged.contexts[str(entry.get("name"))] = dict(entry.get("context") or {})
    if not found:
        raise ConfigError("Invalid kube-config file. No configuration found.")
    return merged


def _context(merged: _Merged, context: str | None) -> dict[str, Any]:
    name = context or merged.current_context
    if not name:
        raise ConfigError("Invalid kube-config file. Expected key current-context")
    if name not in merged.contexts:
        raise ConfigError(f"Invalid kube-config file. Expected object with name {name} in contexts list")
    return merged.contexts[name]


def current_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace of the kubeconfig's context (`default` when it names none or there is no kubeconfig)."""
    try:
        merged = _merged(kubeconfig)
        selected = merged.contexts.get(context or "") or _context(merged, None)
    except (ConfigError, OSError):
        return "default"
    return str(selected.get("namespace") or "default")


def _data(entry: dict[str, Any], key: str, base: Path) -> bytes | None:
    """`key-data` (base64) or the file `key` names (relative to the kubeconfig's directory)."""
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return (base / str(entry[key])).expanduser().read_bytes()
    return None


def _ssl_context(cluster: dict[str, Any], base: Path, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    # Only the kubeconfig's CA is trusted when it names one, as by the official client; else certifi's bundle, as
    # the official client does too (and loading the system's whole store costs ~50 ms of start-up).
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = _data(cluster, "certificate-authority", base)
    if ca is not None:
        context.load_verify_locations(cadata=ca.decode())
    else:
        try:
            import certifi  # the official client's dependency, so there with it
        except ImportError:
            context.load_default_certs()
        else:
            context.load_verify_locations(cafile=certifi.where())
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        # The ssl module loads a client certificate from files only: written to private temporary ones, then gone.
        with tempfile.TemporaryDirectory() as directory:
            cert_file, key_file = Path(directory, "client.crt"), Path(directory, "client.key")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            context.load_cert_chain(cert_file, key_file)
    return context


def _exec_credential(spec: dict[str, Any], cluster: dict[str, Any], base: Path) -> dict[str, Any]:
    """Run an exec credential plugin (as kubectl does, non-interactively) and return its ExecCredential status."""
    command = str(spec.get("command") or "")
    if not command:
        raise ConfigError("the kubeconfig user's exec has no command")
    if "/" in command and not Path(command).is_absolute():
        command = str(base / command)
    api_version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1beta1")
    info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo"):
        info["spec"]["cluster"] = {
            "server": cluster.get("server"),
            "tls-server-name": cluster.get("tls-server-name"),
            "insecure-skip-tls-verify": bool(cluster.get("insecure-skip-tls-verify")),
            "certificate-authority-data": cluster.get("certificate-authority-data"),
        }
    import subprocess  # here: most kubeconfigs have no exec plugin, and a CLI command's start-up is a bench figure

    env = {**os.environ, "KUBERNETES_EXEC_INFO": json.dumps(info)}
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or [] if isinstance(e, dict)})
    try:
        done = subprocess.run(  # the kubeconfig's own plugin, as kubectl runs it
            [command, *map(str, spec.get("args") or [])],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"the exec credential plugin {command} could not run: {error}") from None
    if done.returncode != 0:
        raise ConfigError(f"the exec credential plugin {command} failed ({done.returncode}): {done.stderr.strip()}")
    try:
        status = json.loads(done.stdout).get("status") or {}
    except (ValueError, AttributeError):
        raise ConfigError(f"the exec credential plugin {command} did not print an ExecCredential") from None
    return dict(status)


def from_kubeconfig(kubeconfig: str | None, context: str | None) -> Connection:
    merged = _merged(kubeconfig)
    selected = _context(merged, context)
    cluster_name, user_name = str(selected.get("cluster") or ""), str(selected.get("user") or "")
    if cluster_name not in merged.clusters:
        raise ConfigError(f"Invalid kube-config file. Expected object with name {cluster_name} in clusters list")
    cluster, cluster_base = merged.clusters[cluster_name]
    user, user_base = merged.users.get(user_name, ({}, cluster_base))
    if cluster.get("proxy-url") or cluster.get("tls-server-name"):
        raise Unsupported("the cluster has a proxy-url or a tls-server-name")
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"the cluster {cluster_name} has no https:// server")
    headers: dict[str, str] = {}
    cert, key = _data(user, "client-certificate", user_base), _data(user, "client-key", user_base)
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        token = (user_base / str(user["tokenFile"])).expanduser().read_text().strip()
    if user.get("auth-provider"):  # the client refreshes an OIDC id-token (and runs gcp/azure's): it reads those
        raise Unsupported(f"the user has an auth-provider ({user['auth-provider'].get('name')})")
    if user.get("exec"):
        status = _exec_credential(dict(user["exec"]), cluster, user_base)
        token = str(status.get("token") or "")
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            cert, key = str(status["clientCertificateData"]).encode(), str(status["clientKeyData"]).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username") and user.get("password"):
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    if user.get("as"):
        headers["Impersonate-User"] = str(user["as"])
    if user.get("as-groups"):
        headers["Impersonate-Group"] = ",".join(map(str, user["as-groups"]))
    https = server.startswith("https://")
    return Connection(
        server,
        _ssl_context(cluster, cluster_base, cert, key) if https else None,
        headers,
        namespace=str(selected.get("namespace") or "default"),
    )


def load(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """The connection kubectl would use: in a Pod (and nothing selected) its service account, else the kubeconfig.

    Raises ConfigError (with what is wrong) or Unsupported (read it with the official client)."""
    if kubeconfig is None and context is None:
        own = in_cluster()
        if own is not None:
            return own
    try:
        return from_kubeconfig(kubeconfig, context)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # a file, base64 or PEM that is bad
        raise ConfigError(f"{error.__class__.__name__}: {error}") from None
