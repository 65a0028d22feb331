"""The running webhook and `redisbackup validate` agree on every case, on the real apiserver.

Two views of one case file (tests/data/redisbackups.yaml, applied in order, with a duplicate snapshotName and
an update inside it): the webhook's own answers to AdmissionReviews, compared message for message with
`validate -o json`; and `kubectl apply` of the whole file, which must keep exactly what `validate` accepts.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator
from redisbackup.api.resource import is_redisbackup
from tests.e2e.admission_cases import CASES, GROUP, PLURAL, VERSION, create, names_in

pytestmark = pytest.mark.e2e


def validate(namespace: str) -> dict[int, list[str]]:
    """`redisbackup validate -o json`: document number → its violations as `Fault: message`."""
    argv = [sys.executable, "-m", "redisbackup.cli.main", "validate", "-o", "json", "-n", namespace, str(CASES)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    (file,) = json.loads(result.stdout)["files"]
    return {doc["document"]: [f"{v['fault']}: {v['message']}" for v in doc["violations"]] for doc in file["documents"]}


def review(
    running: RunningOperator, kube_api: client.ApiClient, document: Mapping[str, Any], old: Any, namespace: str
) -> dict[str, Any]:
    """Send an AdmissionReview to the webhook as the apiserver does, trusting the CA bundle it published."""
    configuration = client.AdmissionregistrationV1Api(kube_api).read_validating_webhook_configuration(
        running.configuration
    )
    webhook = (configuration.webhooks or [])[0]  # RedisBackups'; the second is RedisBackupSchedules'
    bundle = base64.b64decode(webhook.client_config.ca_bundle or "").decode()
    obj = {**document, "metadata": {**document["metadata"], "namespace": namespace}}
    request = {
        "uid": str(uuid.uuid4()),
        "kind": {"group": GROUP, "version": VERSION, "kind": "RedisBackup"},
        "resource": {"group": GROUP, "version": VERSION, "resource": PLURAL},
        "name": obj["metadata"]["name"],
        "namespace": namespace,
        "operation": "UPDATE" if old is not None else "CREATE",
        "userInfo": {"username": "e2e"},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
    }
    body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    http = urllib.request.Request(running.webhook_url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(http, context=ssl.create_default_context(cadata=bundle), timeout=10) as reply:
        answer: dict[str, Any] = json.load(reply)["response"]
        return answer


def test_the_webhook_answers_every_case_exactly_as_validate_does(
    kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    offline = validate(namespace)
    api = client.CustomObjectsApi(kube_api)
    compared = 0
    for index, document in enumerate(yaml.safe_load_all(CASES.read_text()), start=1):
        if not is_redisbackup(document):
            continue
        name = document["metadata"]["name"]
        stored: Any = None
        if name in names_in(kube_api, namespace):
            stored = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        answer = review(operator, kube_api, document, stored, namespace)
        message = answer.get("status", {}).get("message") if not answer["allowed"] else None
        assert message == ("; ".join(offline[index]) or None), f"document {index} ({name})"
        if answer["allowed"]:  # make it real, so the next documents see it as the apiserver would
            if stored is None:
                create(kube_api, namespace, document)
            else:
                api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, document)
        compared += 1
    assert compared == 15


def test_kubectl_apply_keeps_exactly_what_validate_accepts(
    kube: Cluster, kube_api: client.ApiClient, operator: RunningOperator, namespace: str
) -> None:
    offline = validate(namespace)
    result = kube.kubectl("apply", "-n", namespace, "-f", str(CASES), check=False)
    assert result.returncode != 0
    for fault in {line.split(":", 1)[0] for messages in offline.values() for line in messages}:
        assert fault in result.stderr
    assert "SnapshotAlreadyExistsFault" in result.stderr
    assert names_in(kube_api, namespace) == ["cluster", "nightly"]
    api = client.CustomObjectsApi(kube_api)
    nightly: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "nightly")
    cluster: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "cluster")
    assert nightly["spec"]["deletionPolicy"] == "Retain", "the second `nightly` document is an allowed update"
    assert cluster["spec"]["snapshotName"] == "cluster-1", "the second `cluster` document changed snapshotName"
