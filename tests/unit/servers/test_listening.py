"""The operator's endpoints are reachable over IPv4 and IPv6 by default (an IPv6-only cluster reaches its Pods over
IPv6 only): the webhook and the metrics on every address of both families, the liveness probe on every address of
the family of the Pod's IP (kopf serves it on one family)."""

from __future__ import annotations

import argparse
import asyncio
import socket
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devstack.net import free_port
from redisbackup.cli import run_operator
from redisbackup.servers.metrics import Metrics
from redisbackup.servers.webhook import AdmissionServer, WebhookOptions
from tests.unit.servers.test_webhook import HANDLER, answer

pytestmark = pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 in this Python")


def answers(url: str, context: ssl.SSLContext | None = None) -> int:
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return int(response.status)


def test_metrics_listen_on_ipv4_and_ipv6_by_default() -> None:
    port = free_port()
    Metrics().serve("", port)
    assert answers(f"http://127.0.0.1:{port}/metrics") == 200
    assert answers(f"http://[::1]:{port}/metrics") == 200


async def test_the_webhook_listens_on_ipv4_and_ipv6_with_an_empty_listen_address() -> None:
    async def publish(_: dict[str, Any]) -> None:
        return None

    port = free_port()
    options = WebhookOptions(listen_host="", listen_port=port, url=f"https://127.0.0.1:{port}")
    async with AdmissionServer(options, handler_id=HANDLER, publish=publish) as server:
        endpoints = server(answer)  # type: ignore[arg-type]  # kopf's protocol names kopf's own types
        await endpoints.__anext__()
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        for host in ("127.0.0.1", "::1"):
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=insecure), 10)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            assert writer.get_extra_info("socket").family == family
            assert writer.get_extra_info("ssl_object").version() is not None, f"no TLS handshake over {host}"
            writer.close()
            await writer.wait_closed()
        await endpoints.aclose()


@pytest.mark.parametrize(("pod_ip", "endpoint"), [("10.244.1.7", "http://0.0.0.0:8081/healthz"),
                                                    ("fd00:10:244::7", "http://[::]:8081/healthz")])  # fmt: skip
def test_the_liveness_probe_listens_on_the_family_of_the_pods_ip(
    pod_ip: str, endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("health: {port: 8081}\n")
    monkeypatch.setenv("POD_IP", pod_ip)
    args = argparse.Namespace(
        config=config, namespaces=None, peering=None, priority=0, liveness=None, webhook=False, verbose=False,
        debug=False,
    )  # fmt: skip
    assert run_operator.options_from(args).liveness_endpoint == endpoint
