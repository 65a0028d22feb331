"""S3 misbehaving under a running operator: stopped mid-upload and mid-delete, slow, answering 500/503, resetting.

The operator talks to SeaweedFS through `devstack.faultproxy.HttpFaultProxy`, which injects the faults per request
(the Host header passes unchanged, so SigV4 still verifies). "Stopped" is the proxy closing its listener and every
open connection: from the operator's side exactly what a stopped S3 server looks like (connection refused).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from devstack.faultproxy import HttpFaultProxy, Rule, SeenRequest
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.wait import wait_until
from tests.e2e.operator_support import delete, get, wait_for, wait_gone
from tests.fault.audit import audit
from tests.fault.support import (
    assert_clean,
    condition_of,
    create,
    deletion_blocked,
    fill,
    full_syncs,
    slow_source,
    wait_settled,
)
from tests.fault.table import Row, record

pytestmark = pytest.mark.e2e


@pytest.fixture
def proxy(s3: S3Bucket) -> Iterator[HttpFaultProxy]:
    with HttpFaultProxy(s3.endpoint_url) as running:
        yield running


def operator_through(start_operator: StartOperator, namespace: str, s3: S3Bucket, proxy: HttpFaultProxy) -> object:
    storage = s3_storage(s3)
    storage.config["locations"]["s3"]["s3"]["endpoint"] = proxy.url  # the operator reaches S3 through the proxy
    return start_operator(namespaces=[namespace], storage=storage, limits={"snapshotAttempts": 3})


def part_upload(request: SeenRequest) -> bool:
    return request.is_part_upload


def settle_and_audit(
    kube_api: client.ApiClient, namespace: str, s3: S3Bucket, names: list[str], scenario: str, operator: object
) -> tuple[Row, object]:
    wait_settled(kube_api, namespace, names, timeout=180, operator=operator)  # type: ignore[arg-type]
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(scenario)), result, runs=len(names))
    assert_clean(row, result)
    return row, result


def test_s3_stopped_mid_upload_comes_back_and_the_snapshot_is_retaken_whole(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    proxy: HttpFaultProxy,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=12, key_delay_us=1500)
    mirror.pods(source, namespace, "cache")
    operator = operator_through(start_operator, namespace, s3, proxy)
    proxy.add(Rule(match=part_upload, count=1, then_down=True))  # the first part upload finds S3 gone
    create(kube_api, namespace, "outage", cacheClusterId="cache-001")
    wait_until(lambda: proxy.requests(lambda r: r.action == "refused"), timeout=90, what="S3 going down mid-upload")
    wait_for(
        kube_api,
        namespace,
        "outage",
        lambda body: condition_of(body, "Progressing").get("reason") == "StorageUnavailable",
        what="said it waits for the storage",
        operator=operator,  # type: ignore[arg-type]
    )
    proxy.up()
    row, _ = settle_and_audit(kube_api, namespace, s3, ["outage"], "S3 stopped mid-upload", operator)
    assert row.available_ok == 1


def test_s3_stopped_mid_delete_blocks_the_finalizer_with_a_reason_then_deletes_everything(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    proxy: HttpFaultProxy,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=1, key_delay_us=0)
    mirror.pods(source, namespace, "cache")
    operator = operator_through(start_operator, namespace, s3, proxy)
    create(kube_api, namespace, "doomed", cacheClusterId="cache-001")
    wait_settled(kube_api, namespace, ["doomed"], timeout=90, operator=operator)  # type: ignore[arg-type]
    assert s3.keys(), "the snapshot was stored"
    proxy.add(Rule(match=lambda r: r.is_delete, count=1, then_down=True))
    delete(kube_api, namespace, "doomed")
    blocked = wait_for(
        kube_api,
        namespace,
        "doomed",
        deletion_blocked,
        what="reported DeletionBlocked",
        timeout=120,
        operator=operator,  # type: ignore[arg-type]
    )
    during = audit(kube_api, s3, [namespace])
    assert not during.defects, during.summary()  # a finalizer held, and the condition says why
    reason = condition_of(blocked, "DeletionBlocked")
    proxy.up()
    wait_gone(kube_api, namespace, "doomed", timeout=120)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("S3 stopped mid-delete")), result, runs=1)
    row.notes = f"DeletionBlocked {reason['reason']} while down"
    assert_clean(row, result)
    assert s3.keys() == [], "every object of the deleted backup is gone once S3 is back"
    assert get(kube_api, namespace, "doomed") is None


@pytest.mark.parametrize(
    ("scenario", "rule", "expect"),
    [
        pytest.param("slow S3 (0.4 s per request)", Rule(delay=0.4), "available", id="slow"),
        pytest.param(
            "S3 answers 503 SlowDown x4", Rule(match=part_upload, status=503, count=4), "available", id="503-burst"
        ),
        pytest.param(
            "S3 resets connections x3",
            Rule(match=lambda r: r.method in ("PUT", "POST"), reset=True, count=3),
            "available",
            id="resets",
        ),
        pytest.param(
            "S3 answers 500 to every part upload",
            Rule(match=part_upload, status=500),
            "failed",
            marks=pytest.mark.smoke,
            id="500-always",
        ),
    ],
)
def test_slow_or_failing_s3_ends_available_or_failed_with_a_typed_reason_and_leaves_nothing(
    scenario: str,
    rule: Rule,
    expect: str,
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    proxy: HttpFaultProxy,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=12, key_delay_us=0)
    mirror.pods(source, namespace, "cache")
    operator = operator_through(start_operator, namespace, s3, proxy)
    applied = proxy.add(Rule(**{k: v for k, v in vars(rule).items() if k != "fired"}))
    create(kube_api, namespace, "weather", cacheClusterId="cache-001")
    seen = wait_settled(kube_api, namespace, ["weather"], timeout=240, operator=operator)  # type: ignore[arg-type]
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row(scenario)), result, runs=1)
    row.notes = f"{applied.fired} of {len(proxy.requests())} requests faulted; " + row.notes
    assert_clean(row, result)
    assert seen["weather"] == expect
    if expect == "failed":
        assert result.reasons == {"StorageUnavailable": 1}


@pytest.mark.smoke
def test_an_operator_killed_after_the_manifest_is_committed_writes_the_status_without_snapshotting_again(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    proxy: HttpFaultProxy,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=1, key_delay_us=0)
    mirror.pods(source, namespace, "cache")
    operator = operator_through(start_operator, namespace, s3, proxy)
    # S3 stores the manifest (the commit record) but its answer is late: the operator dies before writing status.
    proxy.add(Rule(match=lambda r: r.method == "PUT" and r.path.endswith("/manifest.json"), delay_response=5, count=1))
    create(kube_api, namespace, "committed", cacheClusterId="cache-001")
    wait_until(lambda: [k for k in s3.keys("") if k.endswith("/manifest.json")], timeout=60, what="the manifest stored")
    operator.kill()  # type: ignore[attr-defined]
    assert (get(kube_api, namespace, "committed") or {})["status"]["phase"] == "creating"
    operator.restart()  # type: ignore[attr-defined]
    row, _ = settle_and_audit(
        kube_api, namespace, s3, ["committed"], "operator killed right after the commit", operator
    )
    syncs = full_syncs([source.primary])
    row.duplicates += syncs - 1
    row.notes = f"{syncs} full SYNC; " + row.notes
    assert row.available_ok == 1
    assert syncs == 1, "the committed snapshot was not taken again"


def test_a_backup_deleted_while_s3_is_down_mid_upload_is_cleaned_up_once_s3_is_back(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    proxy: HttpFaultProxy,
    redis_factory: RedisFactory,
) -> None:
    source = slow_source(redis_factory, megabytes=12, key_delay_us=1500)
    mirror.pods(source, namespace, "cache")
    operator = operator_through(start_operator, namespace, s3, proxy)
    proxy.add(Rule(match=lambda r: r.is_part_upload and "partNumber=2" in r.query, count=1, then_down=True))
    create(kube_api, namespace, "abandoned", cacheClusterId="cache-001")
    wait_until(lambda: proxy.requests(lambda r: r.action == "refused"), timeout=90, what="S3 going down mid-upload")
    delete(kube_api, namespace, "abandoned")
    blocked = wait_for(
        kube_api,
        namespace,
        "abandoned",
        deletion_blocked,
        what="reported DeletionBlocked",
        timeout=180,
        operator=operator,  # type: ignore[arg-type]
    )
    assert blocked["metadata"]["deletionTimestamp"]
    proxy.up()
    wait_gone(kube_api, namespace, "abandoned", timeout=180)
    result = audit(kube_api, s3, [namespace])
    row = fill(record(Row("deleted while S3 is down mid-upload")), result, runs=1)
    assert_clean(row, result)
    assert s3.keys() == []
    assert s3.uploads() == [], "the upload cut short by the outage was aborted"
