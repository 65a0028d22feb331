"""Hostile input: fuzzed RedisBackups against the real apiserver with the webhook running, fuzzed AdmissionReviews
straight at the webhook, Secrets of other namespaces, and passwords that must never show up anywhere.

Every answer is a clear 4xx (never a 5xx, never a hang), the operator never crashes or logs a traceback, Secrets
are only ever read from the RedisBackup's own namespace, and no password reaches a log, an Event or a status.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client

from devstack.cluster import Cluster
from devstack.fixtures.operator import RunningOperator, StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.redis_nodes import Topology
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, get, wait_for
from tests.fault.audit import audit, list_backups
from tests.fault.hostile import hostile_body, hostile_spec, junk
from tests.fault.support import assert_clean, condition_of, create, fill, wait_settled
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e
EXAMPLES = int(os.environ.get("REDISBACKUP_FUZZ_EXAMPLES", "0"))
BASE = {"snapshotName": "fuzz", "cacheClusterId": "cache-001"}


def traceback_count(operator: RunningOperator) -> int:
    return operator.process.log_path.read_text(errors="replace").count("Traceback")


def submit(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> tuple[int, str]:
    """Create `body`; (status, message). A timeout or a connection error fails the test: that is a hang."""
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, _request_timeout=30
        )
    except client.ApiException as error:
        try:
            message = json.loads(error.body or "{}").get("message", "")
        except ValueError:
            message = str(error.body)
        return error.status, message
    return 201, ""


@pytest.mark.parametrize(
    "examples",
    [pytest.param(25, marks=pytest.mark.smoke, id="smoke"), pytest.param(300, marks=pytest.mark.slow, id="full")],
)
def test_fuzzed_redisbackups_get_a_clear_4xx_and_never_crash_the_operator(
    examples: int,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    s3: S3Bucket,
) -> None:
    operator = start_operator(
        namespaces=[namespace], storage=s3_storage(s3), limits={"sourceMissingDeadlineSeconds": 5}
    )
    tracebacks = traceback_count(operator)
    answers: Counter[int] = Counter()
    unclear: list[str] = []
    counter = iter(range(1_000_000))

    @settings(
        max_examples=EXAMPLES or examples,
        deadline=None,
        derandomize=True,  # seeded: the same bodies every run
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=hostile_spec(BASE) | junk, top=st.none() | junk)
    def one(spec: Any, top: Any) -> None:
        name = f"fuzz-{next(counter)}"
        if isinstance(spec, dict) and "snapshotName" in spec and spec["snapshotName"] == "fuzz":
            spec = {**spec, "snapshotName": name}  # otherwise the webhook refuses every later one as a duplicate
        status, message = submit(kube_api, namespace, hostile_body(name, spec, top))
        answers[status] += 1
        assert status < 500, f"{status} for spec {json.dumps(spec)[:500]}: {message[:500]}"
        if status != 201:
            assert 400 <= status < 500
            if not message or ("spec" not in message and "body" not in message.lower()):
                unclear.append(f"{status}: {message[:300]}")

    one()
    accepted = [b["metadata"]["name"] for b in list_backups(kube_api, namespace)]
    wait_settled(kube_api, namespace, accepted, timeout=120, operator=operator)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(f"hostile specs via the apiserver ({sum(answers.values())})")), result, runs=len(accepted))
    new_tracebacks = traceback_count(operator) - tracebacks
    row.defects += new_tracebacks + len(unclear) + (0 if operator.process.alive() else 1)
    row.notes = f"answers {dict(sorted(answers.items()))}; " + row.notes
    assert operator.process.alive(), operator.log_tail()
    assert new_tracebacks == 0, operator.log_tail(80)
    assert not unclear, unclear[:5]
    assert_clean(row, result)


def review(obj: Any, uid: str = "0") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": GROUP, "version": VERSION, "kind": "RedisBackup"},
            "resource": {"group": GROUP, "version": VERSION, "resource": PLURAL},
            "operation": "CREATE",
            "namespace": "fuzz",
            "name": "fuzz",
            "object": obj,
            "userInfo": {"username": "fuzz"},
        },
    }


def post(url: str, payload: bytes) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback to our own webhook; its CA is not what is being tested
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.smoke
def test_the_webhook_answers_fuzzed_admission_reviews_and_garbage_without_a_5xx(
    start_operator: StartOperator, namespace: str
) -> None:
    operator = start_operator(namespaces=[namespace])
    tracebacks = traceback_count(operator)
    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES or 60, deadline=None, derandomize=True, database=None)
    @given(obj=st.builds(hostile_body, st.just("fuzz"), hostile_spec(BASE) | junk) | junk)
    def one(obj: Any) -> None:
        status, answer = post(operator.webhook_url, json.dumps(review(obj)).encode())
        statuses[status] += 1
        assert status < 500, answer[:500]
        if status == 200:
            response = json.loads(answer)["response"]
            assert response["uid"] == "0"
            if not response["allowed"]:
                assert response["status"]["message"], response

    one()
    for garbage in (b"", b"{", b"[]", b'{"request": 5}', b"\xff\xfe" * 1000, json.dumps(review(None)).encode()):
        status, answer = post(operator.webhook_url, garbage)
        statuses[status] += 1
        assert status < 500, (garbage[:40], answer[:300])
    row = record(Row("hostile AdmissionReviews straight at the webhook", runs=sum(statuses.values())))
    row.defects = traceback_count(operator) - tracebacks + (0 if operator.process.alive() else 1)
    row.notes = f"answers {dict(sorted(statuses.items()))}"
    assert operator.process.alive()
    assert row.defects == 0, operator.log_tail(80)


def reason(body: dict[str, Any] | None, kind: str) -> str | None:
    return condition_of(body, kind).get("reason")


def test_secrets_are_only_read_from_the_backups_own_namespace(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_password: Topology,
) -> None:
    other = kube.create_namespace("secrets-elsewhere")
    try:
        mirrored = mirror.pods(redis_password, other, "cache")  # its password Secret lives in `other` only
        assert mirrored.auth_secret is not None
        operator = start_operator(
            namespaces=[namespace], storage=s3_storage(s3), limits={"sourceMissingDeadlineSeconds": 20}
        )
        secret_ref = {"secretRef": {"name": mirrored.auth_secret, "key": "password"}}

        # No field names another namespace's Secret: a "namespace/name" is refused by the schema.
        status, message = submit(
            kube_api,
            namespace,
            hostile_body(
                "slash",
                {
                    **BASE,
                    "snapshotName": "slash",
                    "auth": {"secretRef": {"name": f"{other}/{mirrored.auth_secret}", "key": "password"}},
                },
            ),
        )
        assert status == 422, message
        assert "spec.auth.secretRef.name" in message

        # Without the source namespace's consent, spec.sourceNamespace is refused.
        create(kube_api, namespace, "unshared", cacheClusterId="cache-001", sourceNamespace=other, auth=secret_ref)
        refused = wait_for(
            kube_api,
            namespace,
            "unshared",
            lambda b: "SourceNamespaceNotShared" in (reason(b, "Failed"), reason(b, "Progressing")),
            what="was refused",
            operator=operator,
        )
        assert "redisbackup.io/allow-backups-from" in json.dumps(refused["status"])

        # With consent, the Pods are read there but the Secret still only from the backup's own namespace.
        kube.kubectl("annotate", "namespace", other, f"redisbackup.io/allow-backups-from={namespace}")
        create(kube_api, namespace, "shared", cacheClusterId="cache-001", sourceNamespace=other, auth=secret_ref)
        waiting = wait_for(
            kube_api,
            namespace,
            "shared",
            lambda b: reason(b, "Progressing") == "SecretNotFound",
            what="waited for its Secret",
            operator=operator,
        )
        assert f"does not exist in namespace {namespace}" in json.dumps(waiting["status"])
        secret = client.CoreV1Api(kube_api).read_namespaced_secret(mirrored.auth_secret, other)
        client.CoreV1Api(kube_api).create_namespaced_secret(
            namespace, {"metadata": {"name": mirrored.auth_secret}, "data": secret.data}
        )
        wait_settled(kube_api, namespace, ["shared", "unshared"], timeout=120, operator=operator)
        assert (get(kube_api, namespace, "shared") or {})["status"]["phase"] == "available"
        result = audit(kube_api, s3, [namespace])
        row = fill(record(Row("Secrets of another namespace")), result, runs=3)
        row.notes = (
            "slash name: 422; sourceNamespace without consent: SourceNamespaceNotShared; "
            "with consent: the Secret is read from the backup's namespace only"
        )
        assert_clean(row, result)
    finally:
        kube.delete_namespace(other)


def test_passwords_never_appear_in_logs_events_or_status(
    kube: Cluster,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    password, wrong = "Pw-" + os.urandom(12).hex(), "Wrong-" + os.urandom(12).hex()
    source = redis_factory.standalone(password=password)
    mirror.pods(source, namespace, "cache")
    core = client.CoreV1Api(kube_api)
    for name, value in (("right", password), ("wrong", wrong)):
        core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "stringData": {"password": value}})
    operator = start_operator(namespaces=[namespace], storage=s3_storage(s3))
    create(
        kube_api,
        namespace,
        "good",
        cacheClusterId="cache-001",
        auth={"secretRef": {"name": "right", "key": "password"}},
    )
    create(
        kube_api, namespace, "bad", cacheClusterId="cache-001", auth={"secretRef": {"name": "wrong", "key": "password"}}
    )
    create(kube_api, namespace, "none", cacheClusterId="cache-001")
    wait_settled(kube_api, namespace, ["good", "bad", "none"], timeout=120, operator=operator)

    log = operator.process.log_path.read_text(errors="replace")
    events = json.dumps([e.to_dict() for e in core.list_namespaced_event(namespace).items], default=str)
    objects = json.dumps(list_backups(kube_api, namespace))
    leaks = [
        f"{secret} in {where}"
        for secret in (password, wrong, s3.secret_key)
        for where, text in (("the operator log", log), ("Events", events), ("RedisBackups", objects))
        if secret in text
    ]
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("passwords in logs, events, status")), result, runs=3)
    row.defects += len(leaks)
    assert not leaks
    assert reason(get(kube_api, namespace, "bad"), "Failed") == "RedisAuthenticationFailed"
    assert reason(get(kube_api, namespace, "none"), "Failed") == "RedisAuthenticationFailed"
    assert_clean(row, result)
