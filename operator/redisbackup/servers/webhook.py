"""The admission webhook's HTTPS endpoint: `settings.admission.server` for kopf, through kopf's public protocol.

It listens with aiohttp (admission_review: the requests, checked before kopf sees them) and an SSL context of its
own, and hands kopf the client config. Around that it

- makes and rotates the certificates (`webhook_certificates`) in a private directory — kopf's own self-signed helper
  needs `certbuilder`/`oscrypto`, which do not work with the OpenSSL 3 here — with the CAs shared by every Pod
  through a Secret (`--webhook-ca-secret`, k8s.webhook_ca), or uses certificates mounted from a Secret
  (cert-manager's tls.crt/tls.key/ca.crt), and loads renewed ones into the live SSL context;
- tells the apiserver where to call: a URL for local runs, a Service in a cluster;
- writes the ValidatingWebhookConfiguration with that address and CA bundle each time either changes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import shutil
import ssl
import tempfile
import urllib.parse
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import kopf
from aiohttp import web

from redisbackup.k8s import webhook_configuration
from redisbackup.k8s.api import in_admission_thread
from redisbackup.k8s.faults import UpdateConflict
from redisbackup.k8s.webhook_ca import read_ca_secret, write_ca_secret
from redisbackup.servers import admission_review, webhook_certificates
from redisbackup.servers.webhook_certificates import CertificatePolicy

logger = logging.getLogger(__name__)

Publish = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class ServiceRef:
    """The Service in front of the operator's Pods (in-cluster runs)."""

    namespace: str
    name: str
    port: int = 443

    @classmethod
    def parse(cls, text: str) -> ServiceRef:
        """NAMESPACE/NAME or NAMESPACE/NAME:PORT."""
        namespace, _, rest = text.partition("/")
        name, _, port = rest.partition(":")
        if not namespace or not name:
            raise ValueError(f"webhook service {text!r} is not NAMESPACE/NAME[:PORT]")
        return cls(namespace, name, int(port) if port else 443)

    def hosts(self) -> tuple[str, ...]:
        base = f"{self.name}.{self.namespace}"
        return (f"{base}.svc", self.name, base, f"{base}.svc.cluster.local")


@dataclass(frozen=True)
class SecretRef:
    """A Secret by namespace and name (NAMESPACE/NAME)."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        namespace, _, name = text.partition("/")
        if not namespace or not name or "/" in name:
            raise ValueError(f"secret {text!r} is not NAMESPACE/NAME")
        return cls(namespace, name)


@dataclass(frozen=True)
class WebhookOptions:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9443
    url: str | None = None
    """How the apiserver reaches the webhook (local runs); default https://LISTEN_HOST:LISTEN_PORT."""
    service: ServiceRef | None = None
    """How the apiserver reaches the webhook in a cluster; takes precedence over `url`."""
    cert_dir: Path | None = None
    """A directory with tls.crt, tls.key and ca.crt (a mounted Secret); None: make and rotate our own."""
    ca_secret: SecretRef | None = None
    """Where the generated CAs are shared with the other Pods (None: this process's own, in memory)."""
    extra_hosts: tuple[str, ...] = ()
    configuration_name: str = "redisbackup-validating-webhook"
    manage_configuration: bool = True
    timeout_seconds: int = 10
    stop_grace_seconds: float = 0.0
    """How long a stopping server still answers, each answer closing its connection (see `__call__`); 0: none."""
    namespaces: tuple[str, ...] = ()
    """Namespaces the operator watches (empty: all); the configuration only sends their RedisBackups."""
    policy: CertificatePolicy = field(default_factory=CertificatePolicy)

    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        if self.listen_host in {"0.0.0.0", "::", ""}:
            raise ValueError("listening on all interfaces: give the URL the apiserver should use (--webhook-url)")
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"https://{host}:{self.listen_port}"

    def hosts(self) -> tuple[str, ...]:
        """Names and addresses the serving certificate must be valid for."""
        own = self.service.hosts() if self.service else (urllib.parse.urlsplit(self.base_url()).hostname or "",)
        return tuple(dict.fromkeys(host for host in (*own, *self.extra_hosts) if host))

    def client_config(self, handler_id: str, ca_bundle: str | None) -> dict[str, Any]:
        config: dict[str, Any]
        if self.service:
            service = self.service
            path = f"/{handler_id}"
            config = {"service": {"namespace": service.namespace, "name": service.name, "port": service.port}}
            config["service"]["path"] = path
        else:
            config = {"url": f"{self.base_url()}/{handler_id}"}
        if ca_bundle:
            config["caBundle"] = ca_bundle
        return config


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AdmissionServer:
    """`settings.admission.server` for kopf: serves the webhook and keeps its certificates and configuration current."""

    def __init__(
        self,
        options: WebhookOptions,
        *,
        handler_id: str,
        publish: Publish | None = None,
        ready: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.options = options
        self.ready = ready
        """Awaited before the server listens (main.run: the operator's first listing of RedisBackups is indexed)."""
        self.handler_id = handler_id
        self.publish = publish if publish is not None else webhook_configuration.publish
        self._own_dir: Path | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.source: webhook_certificates.GeneratedCertificates | webhook_certificates.MountedCertificates | None = None
        self.certificates: webhook_certificates.ServingCertificates | None = None
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2

    async def __aenter__(self) -> AdmissionServer:
        if self.options.cert_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="redisbackup-webhook-"))
            self.source = webhook_certificates.GeneratedCertificates(
                self._own_dir, self.options.hosts(), self.options.policy
            )
        else:
            self.source = webhook_certificates.MountedCertificates(self.options.cert_dir)
        self.certificates = await self._renew()
        self.context.load_cert_chain(self.certificates.certfile, self.certificates.keyfile)
        return self

    async def _renew(self) -> webhook_certificates.ServingCertificates:
        """The certificates to serve now; generated ones with the CAs every Pod shares, when there is a Secret."""
        assert self.source is not None
        secret = self.options.ca_secret
        if secret is None or not isinstance(self.source, webhook_certificates.GeneratedCertificates):
            return self.source.refresh(_now())
        for _attempt in range(5):
            stored = await in_admission_thread(read_ca_secret, secret.namespace, secret.name)
            if stored is None:
                logger.warning(
                    "The webhook CA Secret %s/%s does not exist: this Pod uses a CA of its own, which the other "
                    "Pods' certificates are not signed by.",
                    secret.namespace,
                    secret.name,
                )
                return self.source.refresh(_now())
            now = _now()
            if (shared := webhook_certificates.Authority.from_data(stored.data)) is not None:
                self.source.adopt(shared, now)
            renewed = self.source.refresh(now)
            authority = self.source.authority()
            assert authority is not None
            if authority.to_data() == stored.data:
                return renewed
            try:
                await in_admission_thread(
                    write_ca_secret, secret.namespace, secret.name, authority.to_data(), stored.resource_version
                )
            except UpdateConflict:
                continue  # another Pod filled or rotated it meanwhile: take its CAs
            logger.info(
                "%s the webhook CA in Secret %s/%s.", "Rotated" if shared else "Stored", secret.namespace, secret.name
            )
            return renewed
        raise RuntimeError(f"the webhook CA Secret {secret.namespace}/{secret.name} kept changing under us")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncGenerator[kopf.WebhookClientConfig, None]:
        """kopf's public server protocol: serve `fn` (kopf's admission entry point) and yield how to reach it.

        Our own aiohttp listener rather than kopf.WebhookServer: that one can only be changed by overriding its
        private `_serve`. It serves with our SSL context, into which renewed certificates are loaded in place, so
        new handshakes use them at once without a restart (a restarting listener would refuse connections for a
        moment, and with failurePolicy Fail that rejects API requests).
        """
        assert self.certificates is not None, "the server is used outside its context"
        stopping = asyncio.Event()
        runner = web.AppRunner(admission_review.application(fn, stopping), handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            host = self.options.listen_host or None  # None: every interface, as aiohttp says it
            site = web.TCPSite(runner, host, self.options.listen_port, ssl_context=self.context, reuse_address=True)
            config = await self._publish(self.certificates.bundle)
            if self.ready is not None:
                # The port accepting connections is what the chart's readiness probe checks: it opens once every
                # request can be answered (the uniqueness check's index is complete). Until then the apiserver is
                # refused at once, as while the operator restarts, and a Service sends it to a ready replica.
                # The certificates, the configuration and kopf's start meanwhile run beside the listing.
                await self.ready()
            await site.start()
            logger.info("Serving the admission webhook on %s:%s.", self.options.listen_host, self.options.listen_port)
            if self._refresher is None:
                self._refresher = asyncio.create_task(self._keep_fresh(), name="webhook certificates")
            yield cast(kopf.WebhookClientConfig, config)
            await asyncio.Event().wait()  # serve until kopf closes the generator
        finally:
            await self._close_connections_gently(stopping)
            await runner.cleanup()

    async def _close_connections_gently(self, stopping: asyncio.Event) -> None:
        """Before the listener closes, answer a little longer, each answer with `Connection: close`.

        The apiserver keeps its connections to a Pod open between calls, and the Pod's endpoints going away
        (the chart's preStop) does not move them. A server that closes a kept-alive connection races the apiserver's
        next call on it, which then fails with EOF — a refused RedisBackup during every rollout (1 in 56 in
        tests/e2e/node). Told to close after its answer, the apiserver opens its next connection through the
        Service, to a Pod that stays.
        """
        stopping.set()
        if self.options.stop_grace_seconds > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(self.options.stop_grace_seconds)

    async def _publish(self, bundle: bytes) -> dict[str, Any]:
        config = self.options.client_config(self.handler_id, base64.b64encode(bundle).decode() if bundle else None)
        if self.options.manage_configuration:
            configuration = webhook_configuration.build_configuration(
                self.options.configuration_name,
                config,
                timeout_seconds=self.options.timeout_seconds,
                namespaces=self.options.namespaces,
            )
            await self.publish(configuration)
        return config

    async def refresh(self) -> None:
        """Renew what is due: publish a changed CA bundle first, then serve a changed certificate."""
        assert self.source is not None
        assert self.certificates is not None
        renewed = await self._renew()
        if renewed.bundle != self.certificates.bundle:
            await self._publish(renewed.bundle)
            logger.info("Published the webhook's new CA bundle (%d certificates).", renewed.bundle.count(b"BEGIN"))
        if renewed.fingerprint != self.certificates.fingerprint:
            self.context.load_cert_chain(renewed.certfile, renewed.keyfile)
            logger.info("Serving a renewed webhook certificate.")
        self.certificates = renewed

    async def _keep_fresh(self) -> None:
        assert self.source is not None
        while True:
            await asyncio.sleep(self.source.check_interval)
            try:
                await self.refresh()
            except Exception:  # keep serving what we have; the next tick tries again
                logger.exception("Could not renew the webhook certificates; retrying.")
