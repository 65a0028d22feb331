"""The webhook endpoint in-process: real TLS on loopback, the published CA bundle, renewal without a restart."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ssl
import urllib.parse
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from devstack.net import free_port
from redisbackup.servers.webhook import AdmissionServer, ServiceRef, WebhookOptions
from redisbackup.servers.webhook_certificates import CertificatePolicy

HANDLER = "validate-redisbackup"


async def answer(request: dict[str, Any], *, webhook: str | None = None, **_: Any) -> dict[str, Any]:
    uid = request["request"]["uid"]
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True, "warnings": [f"handled by {webhook}"]},
    }


def trust(configuration: dict[str, Any]) -> ssl.SSLContext:
    bundle = base64.b64decode(configuration["webhooks"][0]["clientConfig"]["caBundle"]).decode()
    return ssl.create_default_context(cadata=bundle)


async def call(url: str, context: ssl.SSLContext) -> tuple[dict[str, Any], x509.Certificate]:
    """POST an AdmissionReview as the apiserver would, trusting only `context`; return the reply and the cert."""
    parsed = urllib.parse.urlsplit(url)
    _, writer = await asyncio.open_connection(parsed.hostname, parsed.port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "42"}}
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session, session.post(url, json=review) as response:
        return await response.json(), x509.load_der_x509_certificate(der)


async def test_the_apiserver_reaches_the_handler_over_tls_and_renewals_need_no_restart() -> None:
    published: list[dict[str, Any]] = []

    async def publish(configuration: dict[str, Any]) -> None:
        published.append(configuration)

    policy = CertificatePolicy(
        ca_validity=dt.timedelta(seconds=20),
        cert_validity=dt.timedelta(seconds=4),
        renew_before=dt.timedelta(seconds=2),
    )
    options = WebhookOptions(listen_host="127.0.0.1", listen_port=free_port(), policy=policy)
    async with AdmissionServer(options, handler_id=HANDLER, publish=publish) as server:
        endpoints = server(answer)  # type: ignore[arg-type]  # kopf's protocol names kopf's own types
        client_config = await endpoints.__anext__()
        url = client_config["url"]
        assert url == f"https://127.0.0.1:{options.listen_port}/{HANDLER}"
        (configuration,) = published
        assert configuration["webhooks"][0]["clientConfig"]["url"] == url

        reply, first = await call(url, trust(configuration))
        assert reply["response"] == {"uid": "42", "allowed": True, "warnings": [f"handled by {HANDLER}"]}

        await asyncio.sleep(2.5)  # the serving certificate is now within renew_before of its end
        await server.refresh()
        reply, second = await call(url, trust(published[-1]))
        assert second.serial_number != first.serial_number
        assert reply["response"]["allowed"] is True
        # The old bundle still verifies the new certificate: no window in which the apiserver would refuse it.
        await call(url, trust(configuration))
        await endpoints.aclose()


def test_in_a_cluster_the_apiserver_calls_a_service_and_the_certificate_names_it() -> None:
    options = WebhookOptions(listen_host="0.0.0.0", service=ServiceRef.parse("redisbackup-system/redisbackup-webhook"))
    config = options.client_config(HANDLER, "Q0E=")
    assert config == {
        "service": {
            "namespace": "redisbackup-system",
            "name": "redisbackup-webhook",
            "port": 443,
            "path": f"/{HANDLER}",
        },
        "caBundle": "Q0E=",
    }
    assert "redisbackup-webhook.redisbackup-system.svc" in options.hosts()


def test_a_url_is_needed_when_listening_on_all_interfaces() -> None:
    options = WebhookOptions(listen_host="0.0.0.0", listen_port=9443)
    with pytest.raises(ValueError, match="--webhook-url"):
        options.base_url()
    assert WebhookOptions(listen_host="0.0.0.0", url="https://10.0.0.5:9443/").base_url() == "https://10.0.0.5:9443"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"\xff\xfe" * 100, "not UTF-8 JSON"),
        (b"[]", "the body is a JSON list"),
        (b'{"request": 5}', "request is missing or not an object"),
        (b'{"request": {"uid": "1", "object": []}}', "request.object is not an object"),
    ],
)
async def test_garbage_posted_to_the_webhook_gets_a_400_saying_why_not_a_500(body: bytes, says: str) -> None:
    options = WebhookOptions(listen_host="127.0.0.1", listen_port=free_port())

    async def publish(configuration: dict[str, Any]) -> None:
        published.append(configuration)

    published: list[dict[str, Any]] = []
    async with AdmissionServer(options, handler_id=HANDLER, publish=publish) as server:
        endpoints = server(answer)  # type: ignore[arg-type]
        url = (await endpoints.__anext__())["url"]
        connector = aiohttp.TCPConnector(ssl=trust(published[-1]))
        async with aiohttp.ClientSession(connector=connector) as session, session.post(url, data=body) as response:
            assert response.status == 400
            assert says in await response.text()
        await endpoints.aclose()


async def test_a_stopping_server_still_answers_and_closes_each_connection_after_its_answer() -> None:
    """The apiserver reuses its connections to a Pod: a server that just closed them would race its next call
    (EOF, a refused create during a rollout). Stopping, it answers for a grace period, each answer with
    `Connection: close`, and only then stops listening."""
    published: list[dict[str, Any]] = []

    async def publish(configuration: dict[str, Any]) -> None:
        published.append(configuration)

    # A grace ample for the two local calls below, even on a loaded machine.
    options = WebhookOptions(listen_host="127.0.0.1", listen_port=free_port(), stop_grace_seconds=5.0)
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "7"}}
    async with AdmissionServer(options, handler_id=HANDLER, publish=publish) as server:
        endpoints = server(answer)  # type: ignore[arg-type]
        url = (await endpoints.__anext__())["url"]
        connector = aiohttp.TCPConnector(ssl=trust(published[-1]))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(url, json=review) as response:
                assert response.status == 200
                assert response.headers.get("Connection", "").lower() != "close"
            stopping = asyncio.create_task(endpoints.aclose())
            await asyncio.sleep(0.3)
            assert not stopping.done(), "the server stopped at once"
            async with session.post(url, json=review) as response:
                assert response.status == 200
                assert (await response.json())["response"]["allowed"] is True
                assert response.headers.get("Connection", "").lower() == "close"
            async with session.post(url, data=b"[]") as response:  # a refusal closes its connection too
                assert response.status == 400
                assert response.headers.get("Connection", "").lower() == "close"
            await asyncio.wait_for(stopping, 10)
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.post(url, json=review)


async def test_the_webhook_listens_only_once_it_is_ready_and_publishes_its_configuration_before() -> None:
    """The chart's readiness probe is the webhook's port: it opens once the operator's first listing is indexed
    (main.run), so no replica is ready before it can answer; the rest of its start runs beside that listing."""
    published: list[dict[str, Any]] = []

    async def publish(configuration: dict[str, Any]) -> None:
        published.append(configuration)

    ready = asyncio.Event()
    options = WebhookOptions(listen_host="127.0.0.1", listen_port=free_port())
    async with AdmissionServer(options, handler_id=HANDLER, publish=publish, ready=ready.wait) as server:
        endpoints = server(answer)  # type: ignore[arg-type]  # kopf's protocol names kopf's own types
        first = asyncio.create_task(endpoints.__anext__())
        async with asyncio.timeout(10):
            while not published:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", options.listen_port)
        assert not first.done()
        ready.set()
        client_config = await asyncio.wait_for(first, 10)
        reply, _ = await call(client_config["url"], trust(published[-1]))
        assert reply["response"]["allowed"] is True
        await endpoints.aclose()
