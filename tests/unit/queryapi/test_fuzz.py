"""A bounded fuzz of malformed requests: whatever a client sends, the answer is a 4xx in XML, never a 5xx.

Two kinds: raw HTTP (methods, paths, headers, bodies of any bytes) refused before or at authentication, and
correctly signed forms of random parameters, which get past the signature to the action and parameter checks. The
core is stubbed with answers that fit each output shape, so every 5xx here would be the protocol layer's own bug.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redisbackup.queryapi import model
from redisbackup.queryapi.actions import ACTIONS, ActionSettings
from redisbackup.queryapi.limits import RateLimiter
from tests.unit.queryapi.support import KEY, REGION, make_api, serving

MINIMAL_ANSWERS: dict[str, dict[str, Any]] = {
    "CreateSnapshot": {"Snapshot": {"SnapshotName": "x"}},
    "CopySnapshot": {"Snapshot": {"SnapshotName": "x"}},
    "DeleteSnapshot": {"Snapshot": {"SnapshotName": "x"}},
    "DescribeSnapshots": {"Snapshots": []},
    "DescribeCacheClusters": {"CacheClusters": []},
    "DescribeReplicationGroups": {"ReplicationGroups": []},
    "ListTagsForResource": {"TagList": []},
    "AddTagsToResource": {"TagList": []},
    "RemoveTagsFromResource": {"TagList": []},
}
NAMES = sorted({name for op in ACTIONS for name in model.operation(op).input_shape.members} | {"Action", "Version"})
KEYS = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(["Tags.Tag.1.Key", "Tags.Tag.0.Key", "Tags.Tag.x.Value", "TagKeys.member.1", "Tags.member.1"]),
    st.text(min_size=0, max_size=12),
)
VALUES = st.one_of(
    st.sampled_from(["", "true", "false", "20", "-1", "99999999999999", "2015-02-02", "bkup", "\x00", "%zz"]),
    st.text(max_size=30),
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, int]]:
    """The handler in a thread of its own (hypothesis drives synchronous examples against it)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    address: list[tuple[str, int]] = []

    async def fake(caller: Any, params: Any, _: ActionSettings, *, action: str) -> dict[str, Any]:
        return MINIMAL_ANSWERS[action]

    async def run() -> None:
        import functools

        patched = {name: functools.partial(fake, action=name) for name in ACTIONS}
        original = dict(ACTIONS)
        ACTIONS.update(patched)  # type: ignore[arg-type]
        try:
            api = make_api(per_key=RateLimiter(rate=1e6, burst=10**6), per_address=RateLimiter(rate=1e6, burst=10**6))
            async with serving(api) as url:
                parts = urllib.parse.urlsplit(url)
                address.append((parts.hostname or "127.0.0.1", parts.port or 80))
                ready.set()
                await stop.wait()
        finally:
            ACTIONS.update(original)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield address[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def send(endpoint: tuple[str, int], method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*endpoint, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def signed(endpoint: tuple[str, int], body: bytes) -> dict[str, str]:
    host = f"{endpoint[0]}:{endpoint[1]}"
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": host},
    )
    SigV4Auth(Credentials(KEY.access_key_id, KEY.secret_access_key), "elasticache", REGION).add_auth(request)
    return dict(request.headers.items())


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(["/", "/x", "//", "/?Action=DescribeSnapshots", "/%ff", "/?a=%zz&b"]),
    authorization=st.one_of(st.none(), HEADER_TEXT, st.just("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, ")),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "application/json", ""]),
    amz_date=st.one_of(st.none(), HEADER_TEXT, st.just("20240101T000000Z")),
    body=st.binary(max_size=300),
)
def test_raw_requests_of_any_shape_get_a_4xx(
    endpoint: tuple[str, int],
    method: str,
    path: str,
    authorization: str | None,
    content_type: str,
    amz_date: str | None,
    body: bytes,
) -> None:
    headers = {"Host": "elasticache.example"}
    for name, value in (("Authorization", authorization), ("Content-Type", content_type), ("X-Amz-Date", amz_date)):
        if value:
            headers[name] = value
    status, answer = send(endpoint, method, path, headers, body)
    assert 400 <= status < 500, (status, answer)
    assert b"<ErrorResponse" in answer
    assert b"<Code>" in answer


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.one_of(st.sampled_from(sorted(ACTIONS)), st.sampled_from(["", "CreateCacheCluster", "Nope"])),
    version=st.sampled_from(["2015-02-02", "2015-02-02", "2014-09-30", ""]),
    fields=st.lists(st.tuples(KEYS, VALUES), max_size=8),
)
def test_signed_forms_of_random_parameters_get_an_answer_or_a_4xx(
    endpoint: tuple[str, int], action: str, version: str, fields: list[tuple[str, str]]
) -> None:
    body = urllib.parse.urlencode([("Action", action), ("Version", version), *fields]).encode()
    status, answer = send(endpoint, "POST", "/", signed(endpoint, body), body)
    assert status < 500, (status, answer)
    if status == 200:
        assert f"<{action}Response".encode() in answer
    else:
        assert b"<ErrorResponse" in answer


def test_a_signed_but_stale_request_is_refused_as_expired(
    endpoint: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: stale.replace(tzinfo=None))
    body = b"Action=DescribeSnapshots&Version=2015-02-02"
    status, answer = send(endpoint, "POST", "/", signed(endpoint, body), body)
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer
    assert b"Signature expired" in answer
