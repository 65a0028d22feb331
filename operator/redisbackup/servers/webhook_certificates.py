"""Certificates for the admission webhook, made in-process with `cryptography` and rotated before they expire.

The apiserver trusts the webhook through the CA bundle in the ValidatingWebhookConfiguration, and that bundle is
updated separately from the certificate the server presents. To keep every admission request verifiable while
either side changes, a CA is never used to sign before it has been in the published bundle for a long time:

- a successor CA joins the bundle when the current CA is half-way through its life;
- the successor starts signing (is promoted) only when the current CA could no longer cover a full serving
  certificate; the old CA stays in the bundle until it expires;
- the serving certificate is re-issued when a third of its life is left, or when the host names change.

So whatever order the apiserver and the server pick up a change in, the certificate being served is signed by a CA
in the bundle. Several Pods share their CAs (`Authority`: current, successor, retired) through a Secret
(redisbackup.k8s.webhook_ca): each adopts what the Secret holds before it rotates, and writes back what changed,
so every Pod's serving certificate is signed by a CA of the one bundle the apiserver has.

`rotate` decides (a pure function of the state and the time); `write` puts the result where the server reads it:
`ca.crt` (the bundle) and `tls.pem` (key and certificate in one file, replaced atomically, so the server can never
load a key that does not belong to the certificate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BUNDLE_FILE = "ca.crt"
SERVING_FILE = "tls.pem"


@dataclass(frozen=True)
class CertificatePolicy:
    ca_validity: dt.timedelta = dt.timedelta(days=365)
    cert_validity: dt.timedelta = dt.timedelta(days=30)
    renew_before: dt.timedelta = dt.timedelta(days=10)

    def __post_init__(self) -> None:
        if not self.renew_before < self.cert_validity < self.ca_validity / 2:
            raise ValueError("need renew_before < cert_validity < ca_validity / 2 for overlapping CA rotation")


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class WebhookCertificates:
    current_ca: Issuer
    serving_cert: x509.Certificate
    serving_key: ec.EllipticCurvePrivateKey
    hosts: tuple[str, ...]
    next_ca: Issuer | None = None
    retired_cas: tuple[x509.Certificate, ...] = field(default=())

    def bundle(self, now: dt.datetime) -> list[x509.Certificate]:
        """Every CA the apiserver should trust now: current, successor, and retired ones not yet expired."""
        cas = [self.current_ca.cert, *([self.next_ca.cert] if self.next_ca else []), *self.retired_cas]
        return [ca for ca in cas if ca.not_valid_after_utc > now]

    def bundle_pem(self, now: dt.datetime) -> bytes:
        return b"".join(ca.public_bytes(serialization.Encoding.PEM) for ca in self.bundle(now))

    def serving_pem(self) -> bytes:
        key = self.serving_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return key + self.serving_cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    """The CAs all the operator's Pods sign with and publish: what the shared Secret holds."""

    current: Issuer
    next: Issuer | None
    retired: tuple[x509.Certificate, ...]

    def to_data(self) -> dict[str, str]:
        """The Secret's keys: ca.crt/ca.key, next-ca.crt/next-ca.key (during a rotation), retired-cas.crt."""
        data = {"ca.crt": _pem(self.current.cert), "ca.key": _key_pem(self.current.key)}
        if self.next is not None:
            data.update({"next-ca.crt": _pem(self.next.cert), "next-ca.key": _key_pem(self.next.key)})
        if self.retired:
            data["retired-cas.crt"] = "".join(_pem(cert) for cert in self.retired)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> Authority | None:
        """The Secret's CAs; None for an empty Secret (no Pod has filled it yet). ValueError when unreadable."""
        if not data.get("ca.crt") or not data.get("ca.key"):
            return None

        def issuer(cert: str, key: str) -> Issuer:
            private = serialization.load_pem_private_key(key.encode(), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise ValueError("the webhook CA key is not an EC key")
            return Issuer(x509.load_pem_x509_certificate(cert.encode()), private)

        upcoming = data.get("next-ca.crt") and data.get("next-ca.key")
        retired = data.get("retired-cas.crt", "")
        return cls(
            current=issuer(data["ca.crt"], data["ca.key"]),
            next=issuer(data["next-ca.crt"], data["next-ca.key"]) if upcoming else None,
            retired=tuple(x509.load_pem_x509_certificates(retired.encode())) if retired.strip() else (),
        )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    encoded = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return encoded.decode()


def _new_ca(now: dt.datetime, policy: CertificatePolicy) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    # A distinct subject per CA, so verifiers never confuse a CA with its successor.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"redisbackup webhook CA {now:%Y%m%dT%H%M%S.%f}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate clock skew with the apiserver
        .not_valid_after(now + policy.ca_validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def _subject_alt_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _common_name(hosts: Sequence[str]) -> str:
    """X.509 caps a CN at 64 characters, and a Service's DNS name (service.namespace.svc) can be longer; clients
    verify the subject alternative names only, so a long name is left to those."""
    return hosts[0] if len(hosts[0]) <= 64 else "redisbackup admission webhook"


def issue_serving(
    ca: Issuer, hosts: Sequence[str], now: dt.datetime, policy: CertificatePolicy
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = min(now + policy.cert_validity, ca.cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(hosts))]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_subject_alt_names(hosts), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return cert, key


def create(hosts: Sequence[str], now: dt.datetime, policy: CertificatePolicy) -> WebhookCertificates:
    if not hosts:
        raise ValueError("the webhook certificate needs at least one host name or IP address")
    ca = _new_ca(now, policy)
    cert, key = issue_serving(ca, hosts, now, policy)
    return WebhookCertificates(current_ca=ca, serving_cert=cert, serving_key=key, hosts=tuple(hosts))


def rotate(
    state: WebhookCertificates, hosts: Sequence[str], now: dt.datetime, policy: CertificatePolicy
) -> WebhookCertificates:
    """The certificates to use from `now` on; `state` itself when nothing needs to change."""
    current = state.current_ca.cert
    # Measured from the intended start, not from not_valid_before (which is back-dated for clock skew).
    issued = current.not_valid_after_utc - policy.ca_validity
    if state.next_ca is None and now >= issued + policy.ca_validity / 2:
        state = replace(state, next_ca=_new_ca(now, policy))
    if current.not_valid_after_utc < now + policy.cert_validity:
        successor = state.next_ca or _new_ca(now, policy)
        state = replace(state, current_ca=successor, next_ca=None, retired_cas=(current, *state.retired_cas))
    serving = state.serving_cert
    if (
        serving.issuer != state.current_ca.cert.subject
        or serving.not_valid_after_utc - now < policy.renew_before
        or tuple(hosts) != state.hosts
    ):
        cert, key = issue_serving(state.current_ca, hosts, now, policy)
        state = replace(state, serving_cert=cert, serving_key=key, hosts=tuple(hosts))
    still_valid = tuple(ca for ca in state.retired_cas if ca.not_valid_after_utc > now)
    if still_valid != state.retired_cas:
        state = replace(state, retired_cas=still_valid)
    return state


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(state: WebhookCertificates, directory: Path, now: dt.datetime) -> None:
    """Write the bundle first: a new serving certificate is only ever signed by a CA already in it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_atomically(directory / BUNDLE_FILE, state.bundle_pem(now), 0o644)
    _write_atomically(directory / SERVING_FILE, state.serving_pem(), 0o600)


@dataclass(frozen=True)
class ServingCertificates:
    """What the webhook should present and publish right now."""

    certfile: Path
    keyfile: Path
    bundle: bytes
    fingerprint: bytes
    """Changes whenever the certificate or key files change (to know when to reload them)."""


class GeneratedCertificates:
    """Our own CA and serving certificate, in a private directory, rotated by `rotate`."""

    def __init__(self, directory: Path, hosts: Sequence[str], policy: CertificatePolicy) -> None:
        self.directory = directory
        self.hosts = tuple(hosts)
        self.policy = policy
        self.state: WebhookCertificates | None = None

    @property
    def check_interval(self) -> float:
        return max(0.5, min(60.0, self.policy.renew_before.total_seconds() / 4))

    def adopt(self, authority: Authority, now: dt.datetime) -> None:
        """Use the CAs the other Pods use (the shared Secret's); `refresh` re-issues the serving certificate when
        another CA signed it."""
        if self.state is None:
            cert, key = issue_serving(authority.current, self.hosts, now, self.policy)
            self.state = WebhookCertificates(
                authority.current, cert, key, self.hosts, authority.next, authority.retired
            )
        else:
            self.state = replace(
                self.state, current_ca=authority.current, next_ca=authority.next, retired_cas=authority.retired
            )

    def authority(self) -> Authority | None:
        if self.state is None:
            return None
        return Authority(self.state.current_ca, self.state.next_ca, self.state.retired_cas)

    def refresh(self, now: dt.datetime) -> ServingCertificates:
        if self.state is None:
            self.state = create(self.hosts, now, self.policy)
        else:
            self.state = rotate(self.state, self.hosts, now, self.policy)
        write(self.state, self.directory, now)  # every time: an expired CA must leave the bundle too
        serving = self.directory / SERVING_FILE
        return ServingCertificates(
            serving, serving, self.state.bundle_pem(now), self.state.serving_cert.fingerprint(hashes.SHA256())
        )


class MountedCertificates:
    """Certificates someone else renews (cert-manager, a Secret mounted as tls.crt, tls.key and ca.crt)."""

    check_interval = 10.0

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def refresh(self, now: dt.datetime) -> ServingCertificates:
        cert, key, ca = (self.directory / name for name in ("tls.crt", "tls.key", "ca.crt"))
        bundle = ca.read_bytes() if ca.exists() else b""
        # Only a digest is kept: the key itself need not stay in memory longer than a reload takes.
        return ServingCertificates(cert, key, bundle, hashlib.sha256(cert.read_bytes() + key.read_bytes()).digest())
