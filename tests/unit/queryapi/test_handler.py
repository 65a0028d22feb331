"""The handler with boto3 as the client: answers, faults with the model's codes and statuses, limits, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from redisbackup.elasticache.caller import Caller
from redisbackup.k8s.faults import AccessDenied, KubernetesUnavailable
from redisbackup.k8s.redisbackups import SnapshotNotFound
from redisbackup.queryapi.actions import ACTIONS, ActionSettings
from redisbackup.queryapi.limits import RateLimiter
from tests.unit.queryapi.support import KEY, elasticache, make_api, serving

SNAPSHOT = {"SnapshotName": "bkup-20150515", "SnapshotStatus": "available", "SnapshotSource": "manual"}
calls: list[tuple[Caller, dict[str, Any]]] = []


async def describe(caller: Caller, params: dict[str, Any], _: ActionSettings) -> dict[str, Any]:
    calls.append((caller, dict(params)))
    if params.get("SnapshotName") == "missing":
        raise SnapshotNotFound("Snapshot missing not found in namespace team-a", field="SnapshotName")
    if params.get("SnapshotName") == "forbidden":
        raise AccessDenied('redisbackups.redisbackup.io is forbidden: User "system:serviceaccount:team-a:bot" cannot')
    if params.get("SnapshotName") == "down":
        raise KubernetesUnavailable("cannot reach the Kubernetes API")
    if params.get("SnapshotName") == "bug":
        raise RuntimeError("a bug")
    return {"Snapshots": [SNAPSHOT]}


@pytest.fixture(autouse=True)
def stub_core(monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    monkeypatch.setitem(ACTIONS, "DescribeSnapshots", describe)


async def call(client: Any, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = await asyncio.to_thread(client.describe_snapshots, **params)
    return result


async def test_boto3_gets_the_cores_answer_as_the_keys_identity_in_its_namespace() -> None:
    async with serving(make_api()) as url:
        answer = await call(elasticache(url), SnapshotName="bkup-20150515", MaxRecords=20)
    assert answer["Snapshots"] == [SNAPSHOT]
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["RequestId"] == answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    ((caller, params),) = calls
    assert (caller.identity, caller.namespace, caller.region) == (KEY.user, "team-a", "us-east-1")
    assert caller.client == f"client for user:{KEY.user}"
    assert params == {"SnapshotName": "bkup-20150515", "MaxRecords": 20}


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("missing", "SnapshotNotFoundFault", 404),
        ("forbidden", "AccessDenied", 403),
        ("down", "KubernetesUnavailable", 503),
        ("bug", "InternalFailure", 500),
    ],
)
async def test_faults_carry_the_models_code_and_status(name: str, code: str, status: int) -> None:
    async with serving(make_api()) as url:
        with pytest.raises(ClientError) as failed:
            await call(elasticache(url), SnapshotName=name)
    error = failed.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert error["Error"]["Type"] == ("Sender" if status < 500 else "Receiver")


async def test_an_unknown_key_and_a_wrong_secret_are_told_apart_as_aws_does() -> None:
    unknown = KEY.__class__("RBKNOSUCHKEY00000000", "x", KEY.user, KEY.namespace)
    async with serving(make_api()) as url:
        with pytest.raises(ClientError) as not_a_key:
            await call(elasticache(url, key=unknown))
        with pytest.raises(ClientError) as wrong_secret:
            await call(elasticache(url, secret="not-the-secret"))
    assert not_a_key.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert wrong_secret.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert {e.value.response["ResponseMetadata"]["HTTPStatusCode"] for e in (not_a_key, wrong_secret)} == {403}
    assert calls == []


async def test_session_tokens_are_refused_unless_the_server_allows_them() -> None:
    async with serving(make_api()) as url:
        with pytest.raises(ClientError) as refused:
            await call(elasticache(url, token="a-kubernetes-token"))
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert "does not accept session tokens" in refused.value.response["Error"]["Message"]


async def test_a_key_over_its_rate_is_throttled_with_a_4xx() -> None:
    async with serving(make_api(per_key=RateLimiter(rate=0.001, burst=2))) as url:
        client = elasticache(url)
        await call(client)
        await call(client)
        with pytest.raises(ClientError) as throttled:
            await call(client)
    assert throttled.value.response["Error"]["Code"] == "Throttling"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_metrics_count_each_action_by_answer_code() -> None:
    api = make_api()
    async with serving(api) as url:
        client = elasticache(url)
        await call(client)
        with pytest.raises(ClientError):
            await call(client, SnapshotName="missing")
        with pytest.raises(ClientError):
            await call(elasticache(url, secret="wrong"))

    def count(action: str, code: str) -> float:
        value = api.metrics.registry.get_sample_value(
            "redisbackup_elasticache_requests_total", {"action": action, "code": code}
        )
        return value or 0.0

    assert count("DescribeSnapshots", "OK") == 1
    assert count("DescribeSnapshots", "SnapshotNotFoundFault") == 1
    assert count("-", "SignatureDoesNotMatch") == 1
    assert count("CreateSnapshot", "OK") == 0  # present from the start


async def test_a_body_over_the_limit_is_a_413_in_xml() -> None:
    async with serving(make_api(max_body=1024)) as url, aiohttp.ClientSession() as session:
        big = "Action=DescribeSnapshots&Version=2015-02-02&SnapshotName=" + "a" * 2000
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with session.post(url, data=big, headers=headers) as response:
            assert response.status == 413
            body = await response.text()
    assert "<Code>RequestEntityTooLarge</Code>" in body
    assert "larger than 1024 bytes" in body


async def test_security_headers_and_no_server_banner() -> None:
    async with serving(make_api()) as url, aiohttp.ClientSession() as session, session.post(url) as response:
        assert response.status == 403
        assert response.headers["Server"] == "redisbackup"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<Code>MissingAuthenticationToken</Code>" in await response.text()


async def test_a_body_that_trickles_in_too_slowly_is_a_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("redisbackup.queryapi.handler.BODY_SECONDS", 0.3)
    async with serving(make_api()) as url:
        host, port = url.split("//")[1].rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\nAction="
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), 10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"<Code>RequestTimeout</Code>" in answer
