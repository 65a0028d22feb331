"""`redisbackup serve` in-process: HTTPS with the CA it publishes, metrics and health, renewal without a restart,
and a graceful stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from devstack.net import free_port
from redisbackup.servers.webhook_certificates import CertificatePolicy
from redisbackup.web import serve as serving
from redisbackup.web.serve import ApiCertificates, ServeOptions, TlsOptions

POLICY = CertificatePolicy(
    ca_validity=dt.timedelta(days=10), cert_validity=dt.timedelta(days=2), renew_before=dt.timedelta(days=1)
)


async def wait_for(path: Path) -> None:
    for _ in range(200):
        if await asyncio.to_thread(path.exists):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} was never written")


async def test_serve_answers_over_https_with_the_ca_it_published_and_stops_gracefully(tmp_path: Path) -> None:
    port, metrics = free_port(), free_port()
    ca_file = tmp_path / "ca.crt"
    options = ServeOptions(
        listen_port=port, metrics_port=metrics, tls=TlsOptions(ca_file=ca_file, hosts=("127.0.0.1",), policy=POLICY)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serving.serve(options, stop))
    await wait_for(ca_file)
    context = ssl.create_default_context(cafile=str(ca_file))
    async with aiohttp.ClientSession() as session:
        for _ in range(100):  # the CA is written just before the listener opens
            try:
                async with session.post(f"https://127.0.0.1:{port}/", ssl=context) as response:
                    status, body = response.status, await response.text()
                break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)
        assert status == 403
        assert "<Code>MissingAuthenticationToken</Code>" in body
        async with session.get(f"http://127.0.0.1:{metrics}/metrics") as response:
            assert 'redisbackup_elasticache_requests_total{action="-",code="MissingAuthenticationToken"} 1.0' in (
                await response.text()
            )
        async with session.get(f"http://127.0.0.1:{metrics}/healthz") as response:
            assert response.status == 200
    stop.set()
    await asyncio.wait_for(task, 15)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_renewed_certificate_is_served_and_a_new_ca_published_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime(2024, 5, 15, tzinfo=dt.UTC)
    monkeypatch.setattr(serving, "_now", lambda: now)
    ca_file = tmp_path / "ca.crt"
    certificates = ApiCertificates(TlsOptions(ca_file=ca_file, hosts=("localhost",), policy=POLICY))
    try:
        await certificates.refresh()
        assert certificates.served is not None
        first, first_bundle = certificates.served.fingerprint, ca_file.read_bytes()
        now += dt.timedelta(days=6)  # past the CA's half-life and the certificate's renewal point
        await certificates.refresh()
        assert certificates.served.fingerprint != first
        bundle = x509.load_pem_x509_certificates(ca_file.read_bytes())
        assert len(bundle) == 2, "the successor CA joins the published bundle before it signs"
        assert ca_file.read_bytes() != first_bundle
    finally:
        certificates.close()
