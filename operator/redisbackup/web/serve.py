"""Running `redisbackup serve`: HTTPS on one port, metrics and health on another, certificates kept current.

The application runs as kopf runs its own servers: `AppRunner(handle_signals=False)` in our event loop, cleaned
up in `finally`; SIGTERM (a Pod being stopped) and SIGINT end it gracefully — the listener closes, requests in
flight get `shutdown_timeout` seconds to finish.

Certificates, as the admission webhook's (`redisbackup.servers.webhook_certificates`): a mounted Secret (cert-manager's
tls.crt/tls.key/ca.crt, or the chart's own), reloaded when renewed; or, without one, a CA and certificate the
server makes and rotates itself — then it publishes its CA bundle (a file, and/or a ConfigMap) for clients to
trust (AWS_CA_BUNDLE). Renewed certificates go into the live SSL context: new handshakes use them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shutil
import signal
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from redisbackup.console.context import Console, ConsoleSettings
from redisbackup.console.sessions import SessionKeys
from redisbackup.k8s import api
from redisbackup.k8s.access_keys import AccessKeys
from redisbackup.k8s.ca_bundle import publish_ca_bundle
from redisbackup.k8s.identity import ClientCache
from redisbackup.queryapi.actions import ActionSettings
from redisbackup.queryapi.authentication import Authenticator
from redisbackup.queryapi.handler import QueryApi
from redisbackup.queryapi.limits import RateLimiter
from redisbackup.queryapi.metrics import ApiMetrics
from redisbackup.queryapi.sigv4 import DEFAULT_SKEW
from redisbackup.servers import webhook_certificates
from redisbackup.servers.webhook_certificates import CertificatePolicy
from redisbackup.web.app import init_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsOptions:
    cert_dir: Path | None = None
    """tls.crt, tls.key (and ca.crt) of a mounted Secret; None: make and rotate our own."""
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    """Names and addresses the generated certificate is valid for."""
    ca_file: Path | None = None
    """Where to write the generated CA bundle (for clients: AWS_CA_BUNDLE)."""
    ca_configmap: str | None = None
    """A ConfigMap of `namespace` to publish the generated CA bundle in (key ca.crt)."""
    namespace: str = ""
    policy: CertificatePolicy = field(default_factory=CertificatePolicy)


@dataclass(frozen=True)
class ConsoleOptions:
    """The console at /console (None in ServeOptions: not served)."""

    session_key_file: Path | None = None
    """A key (32 bytes or more) that seals sessions; None: one of this process (sessions end with it)."""
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)


@dataclass(frozen=True)
class ServeOptions:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8443
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    """/metrics and /healthz over plain HTTP; 0: not served."""
    region: str = "us-east-1"
    keys_namespace: str = "default"
    session_tokens: bool = False
    accept_timeout: float = 20.0
    rate: float = 10.0
    burst: int = 40
    max_body: int = 64 * 1024
    skew: dt.timedelta = DEFAULT_SKEW
    shutdown_timeout: float = 10.0
    tls: TlsOptions = field(default_factory=TlsOptions)
    console: ConsoleOptions | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ApiCertificates:
    """The serving certificate in an SSL context, kept current, and the CA bundle published when it changes."""

    def __init__(self, options: TlsOptions) -> None:
        self.options = options
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._own_dir: Path | None = None
        self.source: webhook_certificates.GeneratedCertificates | webhook_certificates.MountedCertificates
        if options.cert_dir is not None:
            self.source = webhook_certificates.MountedCertificates(options.cert_dir)
        else:
            self._own_dir = Path(tempfile.mkdtemp(prefix="redisbackup-serve-"))
            self.source = webhook_certificates.GeneratedCertificates(self._own_dir, options.hosts, options.policy)
        self.served: webhook_certificates.ServingCertificates | None = None

    async def refresh(self) -> None:
        served = self.source.refresh(_now())
        if self.served is None or served.fingerprint != self.served.fingerprint:
            self.context.load_cert_chain(served.certfile, served.keyfile)
            if self.served is not None:
                log.info("Serving a renewed certificate.")
        if self._own_dir is not None and (self.served is None or served.bundle != self.served.bundle):
            await self._publish(served.bundle)
        self.served = served

    async def _publish(self, bundle: bytes) -> None:
        if self.options.ca_file is not None:
            self.options.ca_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.options.ca_file.with_suffix(".tmp")
            temporary.write_bytes(bundle)
            temporary.replace(self.options.ca_file)
        if self.options.ca_configmap:
            await api.in_thread(publish_ca_bundle, self.options.namespace, self.options.ca_configmap, bundle)
            log.info("Published the CA bundle in ConfigMap %s/%s.", self.options.namespace, self.options.ca_configmap)

    async def keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.source.check_interval)
            try:
                await self.refresh()
            except Exception:  # keep serving what we have; the next tick tries again
                log.exception("Could not renew the certificates; retrying.")

    def close(self) -> None:
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)


def build_api(options: ServeOptions, metrics: ApiMetrics | None = None) -> QueryApi:
    authenticator = Authenticator(
        AccessKeys(options.keys_namespace),
        options.region,
        skew=options.skew,
        session_tokens=options.session_tokens,
        clients=ClientCache(),
    )
    return QueryApi(
        authenticator,
        metrics=metrics or ApiMetrics(),
        settings=ActionSettings(accept_timeout=options.accept_timeout),
        per_key=RateLimiter(rate=options.rate, burst=options.burst),
        max_body=options.max_body,
    )


def build_console(options: ConsoleOptions) -> Console:
    if options.session_key_file is not None:
        keys = SessionKeys.from_file(options.session_key_file)
    else:
        log.warning(
            "The console's sessions are sealed with a key of this process only: they end when it restarts, and "
            "replicas do not share them (give --console-session-key-file)."
        )
        keys = SessionKeys.generated()
    return Console(options.settings, keys)


def _monitoring_app(api: QueryApi) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(api.metrics.registry))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def _start(
    app: web.Application, host: str, port: int, context: ssl.SSLContext | None, shutdown_timeout: float
) -> web.AppRunner:
    # The handler logs every request itself (identity, action, answer), so aiohttp's access log stays off.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context, reuse_address=True).start()
    return runner


async def serve(options: ServeOptions, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set, or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    certificates = ApiCertificates(options.tls)
    api = build_api(options)
    runners: list[web.AppRunner] = []
    refresher: asyncio.Task[None] | None = None
    try:
        await certificates.refresh()
        console = build_console(options.console) if options.console is not None else None
        api_app = init_app(api, console)
        host, port, grace = options.listen_host, options.listen_port, options.shutdown_timeout
        runners.append(await _start(api_app, host, port, certificates.context, grace))
        if options.metrics_port:
            monitoring = _monitoring_app(api)
            runners.append(await _start(monitoring, options.metrics_host, options.metrics_port, None, 1.0))
        refresher = asyncio.create_task(certificates.keep_fresh(), name="serving certificates")
        log.info(
            "Serving the ElastiCache API (region %s, access keys in namespace %s) on https://%s:%d/",
            options.region,
            options.keys_namespace,
            options.listen_host,
            options.listen_port,
        )
        if console is not None:
            log.info("Serving the console on https://%s:%d/console/", options.listen_host, options.listen_port)
        await stop.wait()
        log.info("Stopping: finishing the requests in flight.")
    finally:
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        for runner in reversed(runners):
            await runner.cleanup()
        assert api.authenticator.clients is not None
        api.authenticator.clients.close()
        certificates.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
