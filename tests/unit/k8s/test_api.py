"""The one way to call the Kubernetes API: plain JSON, a request timeout on every call, errors as typed faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes
import pytest

from redisbackup.k8s import api
from redisbackup.k8s.faults import (
    AccessDenied,
    AlreadyExists,
    KubernetesUnavailable,
    ObjectNotFound,
    RequestRejected,
    Unauthenticated,
    UpdateConflict,
)


class Apiserver(BaseHTTPRequestHandler):
    """Answers each path with the status its last part names (`/…/404`), or never (`/…/hang`)."""

    def do_GET(self) -> None:
        last = self.path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        if last == "hang":
            time.sleep(5)
            return
        status = int(last) if last.isdigit() else 200
        reason = {409: "Conflict", 410: "AlreadyExists"}.get(status, "")
        body = {"kind": "Status", "message": f"answered {status}", "reason": reason}
        if status == 200:
            body = {"metadata": {"name": "x"}}
        data = json.dumps(body).encode()
        self.send_response(409 if status == 410 else status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[kubernetes.client.ApiClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Apiserver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{server.server_address[1]}"
    with kubernetes.client.ApiClient(configuration) as api_client:
        yield api_client
    server.shutdown()


def read(client: kubernetes.client.ApiClient, name: str) -> dict[str, object] | None:
    return api.call_or_none(f"read Pod {name}", api.core(client).read_namespaced_pod, name, "team")


def test_a_read_gives_plain_json_and_a_missing_object_none(client: kubernetes.client.ApiClient) -> None:
    assert read(client, "ok") == {"metadata": {"name": "x"}}
    assert read(client, "404") is None
    with pytest.raises(ObjectNotFound, match="could not read Pod 404"):
        api.call("read Pod 404", api.core(client).read_namespaced_pod, "404", "team")


@pytest.mark.parametrize(
    ("status", "fault"),
    [
        ("401", Unauthenticated),  # still an AccessDenied to whoever catches that
        ("403", AccessDenied),
        ("409", UpdateConflict),
        ("410", AlreadyExists),  # a 409 whose reason is AlreadyExists
        ("422", RequestRejected),
        ("500", KubernetesUnavailable),
    ],
)
def test_every_refusal_is_a_typed_fault_naming_the_call(
    client: kubernetes.client.ApiClient, status: str, fault: type[Exception]
) -> None:
    with pytest.raises(fault) as raised:
        read(client, status)
    assert type(raised.value) is fault
    assert f"read Pod {status}" in str(raised.value)


def test_a_hanging_apiserver_is_given_up_on_after_the_request_timeout(
    client: kubernetes.client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "REQUEST_TIMEOUT", (1.0, 0.5))
    started = time.monotonic()
    with pytest.raises(KubernetesUnavailable, match="read Pod hang"):
        read(client, "hang")
    assert time.monotonic() - started < 4, "the call waited for the apiserver instead of timing out"


def test_an_apiserver_that_is_not_there_is_kubernetes_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    with kubernetes.client.ApiClient(configuration) as client, pytest.raises(KubernetesUnavailable):
        read(client, "ok")
