"""Webhook certificates: what is served is always signed by a CA the apiserver trusts, through every rotation."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from redisbackup.servers import webhook_certificates
from redisbackup.servers.webhook_certificates import CertificatePolicy, WebhookCertificates

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOSTS = ("127.0.0.1",)


def trusted(cert: x509.Certificate, bundle: list[x509.Certificate], at: dt.datetime) -> bool:
    if not cert.not_valid_before_utc <= at < cert.not_valid_after_utc:
        return False
    for ca in bundle:
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # InvalidSignature, or a different key type
            continue
        if ca.not_valid_before_utc <= at < ca.not_valid_after_utc:
            return True
    return False


def test_three_years_of_daily_rotation_never_serve_a_certificate_the_apiserver_cannot_verify() -> None:
    policy = CertificatePolicy()
    state = webhook_certificates.create(HOSTS, T0, policy)
    published = state.bundle(T0)
    issuers, serials = {state.current_ca.cert.subject}, {state.serving_cert.serial_number}
    for day in range(1, 3 * 366):
        now = T0 + dt.timedelta(days=day)
        previous = state
        state = webhook_certificates.rotate(state, HOSTS, now, policy)
        bundle = state.bundle(now)
        # Either side may pick up the change first: old or new certificate against old or new bundle.
        assert trusted(state.serving_cert, bundle, now), f"day {day}"
        assert trusted(state.serving_cert, published, now), f"day {day}: new certificate, old bundle"
        assert trusted(previous.serving_cert, bundle, now), f"day {day}: old certificate, new bundle"
        assert state.serving_cert.not_valid_after_utc - now >= policy.renew_before, f"day {day}"
        published = bundle
        issuers.add(state.current_ca.cert.subject)
        serials.add(state.serving_cert.serial_number)
    assert len(issuers) >= 3, "the CA itself must have been replaced, more than once"
    assert len(serials) >= 3 * 365 // 20, "the serving certificate is renewed every ~20 days"


def test_a_fresh_set_is_a_ca_and_a_server_certificate_for_the_hosts() -> None:
    state = webhook_certificates.create(("127.0.0.1", "redisbackup.system.svc"), T0, CertificatePolicy())
    ca, cert = state.current_ca.cert, state.serving_cert
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["redisbackup.system.svc"]
    cert.verify_directly_issued_by(ca)


def test_nothing_changes_between_renewals() -> None:
    policy = CertificatePolicy()
    state = webhook_certificates.create(HOSTS, T0, policy)
    assert webhook_certificates.rotate(state, HOSTS, T0 + dt.timedelta(days=1), policy) is state


def test_new_host_names_get_a_new_certificate_at_once() -> None:
    policy = CertificatePolicy()
    state = webhook_certificates.create(HOSTS, T0, policy)
    rotated = webhook_certificates.rotate(state, ("127.0.0.2",), T0 + dt.timedelta(hours=1), policy)
    assert rotated.serving_cert is not state.serving_cert
    sans = rotated.serving_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.2")]


def test_the_lifetimes_must_leave_room_for_an_overlapping_ca() -> None:
    with pytest.raises(ValueError, match="overlapping CA rotation"):
        CertificatePolicy(ca_validity=dt.timedelta(days=40), cert_validity=dt.timedelta(days=30))


def test_files_hold_the_bundle_and_one_pem_with_key_and_certificate(tmp_path: Path) -> None:
    state: WebhookCertificates = webhook_certificates.create(HOSTS, T0, CertificatePolicy())
    webhook_certificates.write(state, tmp_path, T0)
    bundle = x509.load_pem_x509_certificates((tmp_path / "ca.crt").read_bytes())
    assert bundle == [state.current_ca.cert]
    pem = tmp_path / "tls.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
    assert key.public_key() == state.serving_cert.public_key()
    assert x509.load_pem_x509_certificate(pem.read_bytes()) == state.serving_cert


def test_a_service_name_longer_than_a_common_name_may_be_still_gets_a_certificate() -> None:
    import datetime as dt

    from cryptography import x509

    from redisbackup.servers import webhook_certificates

    long_host = "my-release-redisbackup-webhook.platform-backups-production-eu-west-1.svc"
    assert len(long_host) > 64
    now = dt.datetime.now(dt.UTC)
    state = webhook_certificates.create([long_host, "127.0.0.1"], now, webhook_certificates.CertificatePolicy())
    names = state.serving_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert long_host in names.get_values_for_type(x509.DNSName)


def _share(pod: webhook_certificates.GeneratedCertificates, secret: dict[str, str], now: dt.datetime) -> None:
    """What AdmissionServer does on each refresh with the shared Secret: adopt its CAs, rotate, write back."""
    if (shared := webhook_certificates.Authority.from_data(secret)) is not None:
        pod.adopt(shared, now)
    pod.refresh(now)
    authority = pod.authority()
    assert authority is not None
    secret.clear()
    secret.update(authority.to_data())


def test_pods_sharing_the_ca_secret_serve_certificates_of_one_bundle_through_every_rotation(tmp_path: Path) -> None:
    """A new Pod (a rollout, a second replica) adopts the CA the apiserver already trusts, instead of publishing a
    CA of its own that the other Pods' certificates are not signed by; rotations by one Pod reach the others."""
    policy = CertificatePolicy()
    secret: dict[str, str] = {}
    first = webhook_certificates.GeneratedCertificates(tmp_path / "a", HOSTS, policy)
    _share(first, secret, T0)
    assert set(secret) == {"ca.crt", "ca.key"}
    second = webhook_certificates.GeneratedCertificates(tmp_path / "b", HOSTS, policy)
    _share(second, secret, T0 + dt.timedelta(hours=1))
    assert first.state is not None
    assert second.state is not None
    assert second.state.current_ca.cert == first.state.current_ca.cert, "the second Pod adopted the first's CA"
    assert second.state.serving_cert != first.state.serving_cert, "each Pod has its own serving certificate"
    original = first.state.current_ca.cert
    for day in range(1, 2 * 366, 3):
        now = T0 + dt.timedelta(days=day)
        for pod in (first, second) if day % 2 else (second, first):
            _share(pod, secret, now)
        bundle = webhook_certificates.Authority.from_data(secret)
        assert bundle is not None
        published = [bundle.current.cert, *([bundle.next.cert] if bundle.next else []), *bundle.retired]
        for pod in (first, second):
            assert trusted(pod.state.serving_cert, published, now), f"day {day}"
    assert first.state.current_ca.cert != original, "the shared CA itself was rotated"
    assert first.state.current_ca.cert == second.state.current_ca.cert


def test_an_empty_or_foreign_secret_is_no_authority() -> None:
    assert webhook_certificates.Authority.from_data({}) is None
    with pytest.raises(ValueError, match=r"PEM|certificate|key"):
        webhook_certificates.Authority.from_data({"ca.crt": "not a certificate", "ca.key": "not a key"})
