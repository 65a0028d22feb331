"""SigV4 verification: AWS's published example, requests signed by botocore itself, and every refusal."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from redisbackup.queryapi.errors import QueryError
from redisbackup.queryapi.sigv4 import HttpRequest, check_claim, read_claim, signature_matches

# AWS's worked example of Signature Version 4 (IAM ListUsers), from the SigV4 documentation.
AWS_EXAMPLE = HttpRequest(
    "GET",
    "/",
    "Action=ListUsers&Version=2010-05-08",
    [
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("Host", "iam.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        ),
    ],
    b"",
)
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = dt.datetime(2024, 5, 15, 10, 30, tzinfo=dt.UTC)
BODY = b"Action=DescribeSnapshots&Version=2015-02-02&SnapshotName=bkup-20150515"


def signed_by_botocore(
    *,
    secret: str = "secret",
    token: str | None = None,
    at: dt.datetime = NOW,
    region: str = "us-east-1",
    service: str = "elasticache",
    body: bytes = BODY,
    extra: dict[str, str] | None = None,
    monkeypatch: pytest.MonkeyPatch,
) -> HttpRequest:
    """A request as boto3 sends it: botocore's own SigV4Auth, at time `at`."""
    request = AWSRequest(
        method="POST",
        url="https://elasticache.example:8443/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(extra or {})},
    )
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: at.replace(tzinfo=None))
    SigV4Auth(Credentials("RBKEXAMPLE", secret, token), service, region).add_auth(request)
    headers = [("Host", "elasticache.example:8443"), *request.headers.items()]
    return HttpRequest("POST", "/", "", headers, body)


def check(request: HttpRequest, now: dt.datetime = NOW) -> None:
    check_claim(
        read_claim(request), request, now=now, region="us-east-1", service="elasticache", skew=dt.timedelta(minutes=15)
    )


def test_awss_published_example_verifies_and_any_other_secret_does_not() -> None:
    claim = read_claim(AWS_EXAMPLE)
    assert (claim.access_key, claim.region, claim.service, claim.timestamp) == (
        "AKIDEXAMPLE",
        "us-east-1",
        "iam",
        "20150830T123600Z",
    )
    assert signature_matches(AWS_EXAMPLE, claim, AWS_EXAMPLE_SECRET)
    assert not signature_matches(AWS_EXAMPLE, claim, AWS_EXAMPLE_SECRET[:-1])


def test_a_request_botocore_signed_verifies_and_a_changed_byte_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    request = signed_by_botocore(monkeypatch=monkeypatch)
    check(request)
    assert signature_matches(request, read_claim(request), "secret")
    assert not signature_matches(request, read_claim(request), "other")
    tampered = HttpRequest(request.method, request.path, request.query, request.headers, BODY.replace(b"bkup", b"bkuq"))
    assert not signature_matches(tampered, read_claim(tampered), "secret")


def test_a_session_token_is_signed_and_must_be(monkeypatch: pytest.MonkeyPatch) -> None:
    request = signed_by_botocore(token="k8s-token", monkeypatch=monkeypatch)
    claim = read_claim(request)
    assert claim.session_token == "k8s-token"
    assert "x-amz-security-token" in claim.signed_headers
    check(request)
    assert signature_matches(request, claim, "secret")


def test_headers_the_client_signed_count_even_those_botocore_would_not_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another SDK may sign User-Agent: we sign exactly the client's list, not botocore's default choice."""
    plain = signed_by_botocore(monkeypatch=monkeypatch)
    claim = read_claim(plain)
    with_agent = [*plain.headers, ("User-Agent", "other-sdk/1.0")]
    names = ";".join(sorted([*claim.signed_headers, "user-agent"]))
    request = HttpRequest("POST", "/", "", with_agent, BODY)
    from redisbackup.queryapi.sigv4 import Claim, expected_signature

    resigned = Claim(**{**claim.__dict__, "signed_headers": tuple(names.split(";")), "signature": ""})
    signature = expected_signature(request, resigned, "secret")
    assert signature != claim.signature  # user-agent is part of what was signed now
    assert signature_matches(request, Claim(**{**resigned.__dict__, "signature": signature}), "secret")


@pytest.mark.parametrize(
    ("at", "message"),
    [
        (NOW - dt.timedelta(minutes=16), "Signature expired: 20240515T101400Z is now earlier than 20240515T101500Z"),
        (NOW + dt.timedelta(minutes=16), "Signature not yet current: 20240515T104600Z is still later than"),
    ],
)
def test_a_request_outside_the_clock_window_is_refused_both_ways(
    at: dt.datetime, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = signed_by_botocore(at=at, monkeypatch=monkeypatch)
    with pytest.raises(QueryError) as refused:
        check(request)
    assert (refused.value.code, refused.value.status) == ("SignatureDoesNotMatch", 403)
    assert refused.value.message.startswith(message)
    check(signed_by_botocore(at=NOW - dt.timedelta(minutes=14), monkeypatch=monkeypatch))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"region": "eu-west-1"}, "Credential should be scoped to a valid region"),
        ({"service": "s3"}, "Credential should be scoped to correct service: 'elasticache'"),
    ],
)
def test_the_credential_scope_must_be_ours(
    changes: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = signed_by_botocore(monkeypatch=monkeypatch, **changes)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match=message) as refused:
        check(request)
    assert refused.value.status == 403


def test_a_body_digest_header_must_match_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    request = signed_by_botocore(extra={"X-Amz-Content-SHA256": wrong}, monkeypatch=monkeypatch)
    with pytest.raises(QueryError) as refused:
        check(request)
    assert (refused.value.code, refused.value.status) == ("XAmzContentSHA256Mismatch", 400)


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "MissingAuthenticationToken"),
        ("AWS AKID:signature", "IncompleteSignature"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20240515/us-east-1/elasticache/aws4_request", "IncompleteSignature"),
        ("AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=00", "IncompleteSignature"),
        (
            "AWS4-HMAC-SHA256 Credential=A/20240515/us-east-1/elasticache/aws4_request, SignedHeaders=x-amz-date;host, "
            "Signature=00",
            "IncompleteSignature",
        ),
        ("AWS4-HMAC-SHA256 garbage", "IncompleteSignature"),
    ],
)
def test_a_malformed_authorization_is_a_4xx_naming_the_problem(authorization: str | None, code: str) -> None:
    headers = [("Host", "h"), ("X-Amz-Date", "20240515T103000Z")]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    with pytest.raises(QueryError) as refused:
        read_claim(HttpRequest("POST", "/", "", headers, b""))
    assert refused.value.code == code
    assert 400 <= refused.value.status < 500


def test_host_must_be_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    request = signed_by_botocore(monkeypatch=monkeypatch)
    authorization = next(v for k, v in request.headers if k == "Authorization")
    unsigned_host = authorization.replace(
        "SignedHeaders=content-type;host;x-amz-date", "SignedHeaders=content-type;x-amz-date"
    )
    headers = [(k, unsigned_host if k == "Authorization" else v) for k, v in request.headers]
    with pytest.raises(QueryError, match="'host' must be a signed header"):
        check(HttpRequest("POST", "/", "", headers, BODY))
