"""The light REST client (CLI start-up): kubeconfig read as kubectl reads it, and the same JSON and faults as the
official client through `api.call`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from redisbackup.k8s import api, kubeconfig
from redisbackup.k8s.faults import KubernetesUnavailable
from redisbackup.k8s.rest import RestClient
from tests.unit.k8s.test_api import Apiserver


def _cert(name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None) -> tuple[Any, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _pem(cert: Any, key: Any) -> tuple[bytes, bytes]:
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Recorder(Apiserver):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        Recorder.seen.append({"path": self.path, "headers": dict(self.headers), "peer": peer})
        super().do_GET()


def _serve(context: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def _kubeconfig(server: str, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
    }


@pytest.fixture
def http_server() -> Iterator[int]:
    Recorder.seen.clear()
    server, port = _serve()
    yield port
    server.shutdown()


def test_the_rest_client_gives_the_official_clients_json_and_faults(http_server: int, tmp_path: Path) -> None:
    config = _write(tmp_path / "config", _kubeconfig(f"http://127.0.0.1:{http_server}/prefix", {"token": "t0k"}))
    client = RestClient(kubeconfig.load(str(config)))
    custom = api.custom(client)
    body = api.call("read it", custom.get_namespaced_custom_object, "redisbackup.io", "v1alpha1", "team", "rb", "x")
    assert body == {"metadata": {"name": "x"}}
    listed = api.call("list", custom.list_namespaced_custom_object, "g", "v1", "team", "rb", label_selector="a=b")
    assert listed == {"metadata": {"name": "x"}}
    assert Recorder.seen[0]["path"] == "/prefix/apis/redisbackup.io/v1alpha1/namespaces/team/rb/x"
    assert Recorder.seen[1]["path"] == "/prefix/apis/g/v1/namespaces/team/rb?labelSelector=a%3Db"
    assert Recorder.seen[0]["headers"]["Authorization"] == "Bearer t0k"
    assert api.call_or_none("read 404", custom.get_namespaced_custom_object, "g", "v1", "team", "rb", "404") is None
    # Every refusal maps onto the same fault, with the same message, as with the official client.
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{http_server}/prefix"
    with kubernetes.client.ApiClient(configuration) as official:
        for status in ("401", "403", "409", "410", "422", "500"):
            faults = []
            for either in (client, official):
                with pytest.raises(Exception) as raised:  # noqa: PT011 - compared below
                    api.call(
                        f"read {status}", api.custom(either).get_namespaced_custom_object, "g", "v", "n", "p", status
                    )
                faults.append((type(raised.value), str(raised.value)))
            assert faults[0] == faults[1]


def test_an_apiserver_that_is_not_there_is_kubernetes_unavailable(tmp_path: Path) -> None:
    config = _write(tmp_path / "config", _kubeconfig("https://127.0.0.1:1", {"token": "x"}))
    client = RestClient(kubeconfig.load(str(config)))
    with pytest.raises(KubernetesUnavailable, match="cannot reach the Kubernetes API to list"):
        api.call("list", api.custom(client).list_cluster_custom_object, "g", "v", "p")


def test_kubeconfigs_merge_and_select_contexts_as_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("from-file\n")
    first = _write(tmp_path / "a", _kubeconfig("https://first:6443", {"tokenFile": "token"}))
    second = _kubeconfig("https://second:6443", {"username": "ann", "password": "pw", "as": "bob", "as-groups": ["g"]})
    second["current-context"] = "other"
    second["contexts"] = [{"name": "other", "context": {"cluster": "c2", "user": "u2"}}]
    second["clusters"] = [{"name": "c2", "cluster": {"server": "http://second:8080"}}]
    second["users"][0]["name"] = "u2"
    monkeypatch.setenv("KUBECONFIG", f"{first}:{_write(tmp_path / 'b', second)}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    merged = kubeconfig.load()
    assert (merged.server, merged.namespace) == ("https://first:6443", "team")  # the first current-context wins
    assert merged.headers == {"Authorization": "Bearer from-file"}  # tokenFile relative to its kubeconfig
    other = kubeconfig.load(context="other")
    assert (other.server, other.namespace, other.ssl_context) == ("http://second:8080", "default", None)
    assert other.headers == {
        "Authorization": "Basic " + base64.b64encode(b"ann:pw").decode(),
        "Impersonate-User": "bob",
        "Impersonate-Group": "g",
    }
    assert kubeconfig.current_namespace(None, None) == "team"
    assert kubeconfig.current_namespace(None, "other") == "default"
    with pytest.raises(kubeconfig.ConfigError, match="nope in contexts"):
        kubeconfig.load(context="nope")
    with pytest.raises(kubeconfig.ConfigError, match="No configuration found"):
        kubeconfig.load(str(tmp_path / "absent"))
    oidc = _kubeconfig("https://x", {"auth-provider": {"name": "oidc", "config": {"id-token": "t"}}})
    with pytest.raises(kubeconfig.Unsupported):  # the official client refreshes its token: it is used instead
        kubeconfig.load(str(_write(tmp_path / "oidc", oidc)))


def test_client_certificates_a_ca_and_exec_plugins_reach_a_tls_apiserver(tmp_path: Path) -> None:
    ca, ca_key = _cert("test-ca")
    server_cert, server_key = _cert("localhost", (ca, ca_key))
    client_cert, client_key = _cert("cli-user", (ca, ca_key))
    (tmp_path / "server.crt").write_bytes(b"".join(_pem(server_cert, server_key)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt")
    context.load_verify_locations(cadata=_pem(ca, ca_key)[0].decode())
    context.verify_mode = ssl.CERT_REQUIRED  # the apiserver asks for our client certificate
    Recorder.seen.clear()
    server, port = _serve(context)
    try:
        cert_pem, key_pem = _pem(client_cert, client_key)
        (tmp_path / "ca.crt").write_bytes(_pem(ca, ca_key)[0])
        by_data = _kubeconfig(
            f"https://localhost:{port}",
            {
                "client-certificate-data": base64.b64encode(cert_pem).decode(),
                "client-key-data": base64.b64encode(key_pem).decode(),
            },
            {"certificate-authority": "ca.crt"},
        )
        client = RestClient(kubeconfig.load(str(_write(tmp_path / "data", by_data))))
        assert api.call("list", api.custom(client).list_cluster_custom_object, "g", "v", "p")
        assert dict(x[0] for x in Recorder.seen[-1]["peer"]["subject"])["commonName"] == "cli-user"
        # An exec plugin (as cloud providers' kubeconfigs use) gives the certificate and a token.
        plugin = tmp_path / "plugin.py"
        credential = {
            "token": "exec-token",
            "clientCertificateData": cert_pem.decode(),
            "clientKeyData": key_pem.decode(),
        }
        plugin.write_text(
            "import json, os, sys\n"
            "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
            "assert info['spec']['interactive'] is False and os.environ['EXTRA'] == 'yes'\n"
            f"print(json.dumps({{'apiVersion': info['apiVersion'], 'status': {credential!r}}}))\n"
        )
        by_exec = _kubeconfig(
            f"https://localhost:{port}",
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": sys.executable,
                    "args": [str(plugin)],
                    "env": [{"name": "EXTRA", "value": "yes"}],
                }
            },
            {"certificate-authority-data": base64.b64encode(_pem(ca, ca_key)[0]).decode()},
        )
        client = RestClient(kubeconfig.load(str(_write(tmp_path / "exec", by_exec))))
        assert api.call("list", api.custom(client).list_cluster_custom_object, "g", "v", "p")
        assert Recorder.seen[-1]["headers"]["Authorization"] == "Bearer exec-token"
        assert dict(x[0] for x in Recorder.seen[-1]["peer"]["subject"])["commonName"] == "cli-user"
        # A CA that did not sign the apiserver's certificate is refused, as by the official client.
        other_ca, other_key = _cert("other-ca")
        by_data["clusters"][0]["cluster"] = {
            "server": f"https://localhost:{port}",
            "certificate-authority-data": base64.b64encode(_pem(other_ca, other_key)[0]).decode(),
        }
        client = RestClient(kubeconfig.load(str(_write(tmp_path / "wrong", by_data))))
        with pytest.raises(KubernetesUnavailable, match="SSLCertVerificationError"):
            api.call("list", api.custom(client).list_cluster_custom_object, "g", "v", "p")
    finally:
        server.shutdown()


def test_describe_snapshots_runs_on_the_rest_client_without_the_official_one(http_server: int, tmp_path: Path) -> None:
    import subprocess

    config = _write(tmp_path / "config", _kubeconfig(f"http://127.0.0.1:{http_server}", {"token": "t0k"}))
    probe = (
        "import sys; from redisbackup.cli.main import main\n"
        "code = main(['describe-snapshots'])\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env={**os.environ, "KUBECONFIG": str(config)}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    output, _, modules = done.stdout.partition("MODULES ")
    assert json.loads(output) == {"Snapshots": []}
    assert "kubernetes" not in modules.split()
    # One blocking request, no event loop; no stored manifest (anycrc), no schedule models (CLI start-up: `make bench`)
    assert not {"asyncio", "anycrc", "redisbackup.api.schedule_spec", "subprocess"} & set(modules.split())
    # The kubeconfig context's namespace, and its token, reached the apiserver.
    assert Recorder.seen[-1]["path"] == "/apis/redisbackup.io/v1alpha1/namespaces/team/redisbackups"
    assert Recorder.seen[-1]["headers"]["Authorization"] == "Bearer t0k"
