"""The admission webhook's HTTPS endpoint: kopf's WebhookServer, fed with our certificates and our configuration.

kopf's server is used as it is configured (not subclassed): it serves the requests, reloads its certificate
files when they change (restarting its listener and yielding a fresh client config) and hands each client config
to kopf. This wrapper around it

- makes and rotates the certificates (`webhook_tls`) in a private directory — kopf's own self-signed helper
  needs `certbuilder`/`oscrypto`, which do not work with the OpenSSL 3 here — or uses certificates mounted from
  a Secret (cert-manager's tls.crt/tls.key/ca.crt), which kopf then reloads as they are renewed;
- turns kopf's URL into the address the apiserver must use: a URL for local runs, a Service in a cluster;
- writes the ValidatingWebhookConfiguration with that address and CA bundle each time either changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shutil
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import kopf

from redisbackup.k8s import webhook_configuration, webhook_tls
from redisbackup.k8s.webhook_tls import CertificatePolicy

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
class WebhookOptions:
    listen_host: str = "127.0.0.1"
    listen_port: int = 9443
    url: str | None = None
    """How the apiserver reaches the webhook (local runs); default https://LISTEN_HOST:LISTEN_PORT."""
    service: ServiceRef | None = None
    """How the apiserver reaches the webhook in a cluster; takes precedence over `url`."""
    cert_dir: Path | None = None
    """A directory with tls.crt, tls.key and ca.crt (a mounted Secret); None: make and rotate our own."""
    extra_hosts: tuple[str, ...] = ()
    configuration_name: str = "redisbackup-validating-webhook"
    manage_configuration: bool = True
    timeout_seconds: int = 5
    namespaces: tuple[str, ...] = ()
    """Namespaces the operator watches (empty: all); the configuration only sends their RedisBackups."""
    policy: CertificatePolicy = field(default_factory=CertificatePolicy)
    file_check_interval: float = 10.0

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

    def __init__(self, options: WebhookOptions, *, handler_id: str, publish: Publish | None = None) -> None:
        self.options = options
        self.handler_id = handler_id
        self.publish = publish if publish is not None else webhook_configuration.publish
        self._own_dir: Path | None = None
        self._rotation: asyncio.Task[None] | None = None
        self.certificates: webhook_tls.WebhookCertificates | None = None

    @property
    def cert_dir(self) -> Path:
        directory = self.options.cert_dir or self._own_dir
        assert directory is not None, "the server is used outside its context"
        return directory

    async def __aenter__(self) -> AdmissionServer:
        if self.options.cert_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="redisbackup-webhook-"))
            now = _now()
            self.certificates = webhook_tls.create(self.options.hosts(), now, self.options.policy)
            webhook_tls.write(self.certificates, self._own_dir, now)
            self._rotation = asyncio.create_task(self._keep_rotated(), name="webhook certificate rotation")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rotation
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def _kopf_server(self) -> kopf.WebhookServer:
        if self.options.cert_dir is None:
            certfile = pkeyfile = self.cert_dir / webhook_tls.SERVING_FILE
            cafile = self.cert_dir / webhook_tls.BUNDLE_FILE
        else:
            certfile, pkeyfile, cafile = (self.cert_dir / name for name in ("tls.crt", "tls.key", "ca.crt"))
        return kopf.WebhookServer(
            addr=self.options.listen_host,
            port=self.options.listen_port,
            certfile=certfile,
            pkeyfile=pkeyfile,
            cafile=cafile,
            file_check_interval=self.options.file_check_interval,
        )

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for served in self._kopf_server()(fn):
            # kopf appends the handler id to the URL itself only in its managed mode; we route to it the same way.
            config = self.options.client_config(self.handler_id, served.get("caBundle"))
            if self.options.manage_configuration:
                configuration = webhook_configuration.build_configuration(
                    self.options.configuration_name,
                    config,
                    timeout_seconds=self.options.timeout_seconds,
                    namespaces=self.options.namespaces,
                )
                await self.publish(configuration)
            logger.info("Serving the admission webhook on %s.", served.get("url"))
            yield cast(kopf.WebhookClientConfig, config)

    async def _keep_rotated(self) -> None:
        policy = self.options.policy
        interval = max(1.0, min(3600.0, policy.renew_before.total_seconds() / 4))
        while True:
            await asyncio.sleep(interval)
            assert self.certificates is not None
            now = _now()
            try:
                rotated = webhook_tls.rotate(self.certificates, self.options.hosts(), now, policy)
                # Written on every tick, not only for a new certificate: an expired CA must leave the bundle too.
                webhook_tls.write(rotated, self.cert_dir, now)
            except Exception:  # keep serving the current certificate and try again on the next tick
                logger.exception("Could not rotate the webhook certificates in %s.", self.cert_dir)
                continue
            if rotated.serving_cert is not self.certificates.serving_cert:
                logger.info(
                    "Rotated the webhook certificate (valid until %s).", rotated.serving_cert.not_valid_after_utc
                )
            self.certificates = rotated
