"""The webhook's certificates and CA rotate while the apiserver keeps calling it: no restart, no refused call."""

from __future__ import annotations

import ssl
import time

import pytest
from cryptography import x509
from kubernetes import client

from devstack.fixtures.operator import StartOperator
from tests.e2e.admission_cases import create, error_message, redisbackup

pytestmark = pytest.mark.e2e

# Lifetimes in seconds instead of days: the CA is replaced after ~16 s, certificates every ~4 s.
SHORT_LIVED = {
    "REDISBACKUP_WEBHOOK_CA_VALIDITY_SECONDS": "24",
    "REDISBACKUP_WEBHOOK_CERT_VALIDITY_SECONDS": "8",
    "REDISBACKUP_WEBHOOK_CERT_RENEW_BEFORE_SECONDS": "4",
}


def test_certificates_rotate_without_a_restart_and_every_admission_call_succeeds(
    kube_api: client.ApiClient, start_operator: StartOperator, namespace: str
) -> None:
    running = start_operator(namespaces=[namespace], env=SHORT_LIVED)
    pid = running.process.pid
    create(kube_api, namespace, redisbackup("taken", snapshotName="taken", cacheClusterId="mycluster"))
    served: list[x509.Certificate] = []
    answers: list[str] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        pem = ssl.get_server_certificate(("127.0.0.1", running.webhook_port))
        served.append(x509.load_pem_x509_certificate(pem.encode()))
        # Only the webhook knows the name is taken: a 409 proves the apiserver reached it and trusted it.
        try:
            create(kube_api, namespace, redisbackup("again", snapshotName="taken", cacheClusterId="x"), dry_run=True)
            answers.append("accepted")
        except client.ApiException as error:
            answers.append(f"{error.status} {error_message(error)}")
        time.sleep(0.25)
    refused = [a for a in answers if not a.startswith("409 ") or "SnapshotAlreadyExistsFault" not in a]
    assert refused == [], f"{len(refused)} of {len(answers)} admission calls did not reach the webhook"
    assert len({cert.serial_number for cert in served}) >= 5, "the serving certificate was renewed repeatedly"
    assert len({cert.issuer for cert in served}) >= 2, "the CA itself was replaced"
    assert running.process.alive()
    assert running.process.pid == pid
