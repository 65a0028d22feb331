"""Verifying AWS Signature Version 4 with botocore's own signer: no canonicalisation of our own.

A request is verified by signing it again, the way the client did: only the headers the client listed in
SignedHeaders, at the time it put in X-Amz-Date, with the secret of the access key it named — then the two
signatures are compared in constant time. The canonical request, the string to sign and the key derivation are
botocore's `SigV4Auth` (the code every boto3 and aws CLI request is signed with); only the choice of headers is
ours, because the client's list, not botocore's default list, is what was signed.

What is checked before any secret is looked at (each a 4xx with AWS's code and wording):
- an `AWS4-HMAC-SHA256` Authorization header with Credential, SignedHeaders and Signature (IncompleteSignature,
  MissingAuthenticationToken);
- the time: X-Amz-Date (or Date) within `skew` of now, in either direction (SignatureDoesNotMatch, "Signature
  expired" / "Signature not yet current");
- the credential scope: the same day as the time, our region, service `elasticache` (SignatureDoesNotMatch);
- `host` (and x-amz-date, and the session token when one is sent) among the signed headers;
- an X-Amz-Content-SHA256 header, if sent, is the body's real digest: the body is always signed.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from redisbackup.queryapi.errors import (
    QueryError,
    incomplete_signature,
    missing_authentication,
    signature_mismatch,
)

ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_SKEW = dt.timedelta(minutes=15)  # AWS's window for SigV4 request times


@dataclass(frozen=True)
class HttpRequest:
    """The parts of an HTTP request a signature covers, as they arrived."""

    method: str
    path: str  # without the query string, still percent-encoded
    query: str  # the raw query string
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


@dataclass(frozen=True)
class Claim:
    """What the Authorization header claims: who signed, for which scope and time, and which headers."""

    access_key: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # SIGV4_TIMESTAMP (20150830T123600Z), the time the string to sign carries
    session_token: str | None

    @property
    def time(self) -> dt.datetime:
        return dt.datetime.strptime(self.timestamp, SIGV4_TIMESTAMP).replace(tzinfo=dt.UTC)


def _fields(header: str) -> dict[str, str]:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete_signature(
            f"Unsupported Authorization algorithm {algorithm or header!r}: sign requests with {ALGORITHM} "
            "(Signature Version 4)"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, equals, value = part.strip().partition("=")
        if not equals:
            raise incomplete_signature(f"Authorization header field {part.strip()!r} is not Key=Value")
        fields[key] = value
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise incomplete_signature(
                f"Authorization header requires '{required}' parameter. Authorization={header.strip()}"
            )
    return fields


def _timestamp(request: HttpRequest) -> str:
    (amz_date, *more) = request.header("x-amz-date") or [""]
    if more:
        raise incomplete_signature("X-Amz-Date is given more than once")
    if amz_date:
        try:
            dt.datetime.strptime(amz_date, SIGV4_TIMESTAMP)
        except ValueError:
            raise incomplete_signature(
                f"X-Amz-Date {amz_date!r} is not in ISO 8601 basic format (e.g. 20150830T123600Z)"
            ) from None
        return amz_date
    (date, *_) = request.header("date") or [""]
    try:
        parsed = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        raise incomplete_signature(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    return parsed.astimezone(dt.UTC).strftime(SIGV4_TIMESTAMP)


def read_claim(request: HttpRequest) -> Claim:
    """The Authorization header's claim; MissingAuthenticationToken when there is none."""
    authorization = request.header("authorization")
    if not authorization:
        if any(key.lower().startswith("x-amz-") for key in request.query.split("&")):
            raise missing_authentication("Presigned URLs are not supported: send an Authorization header (SigV4)")
        raise missing_authentication()
    if len(authorization) > 1:
        raise incomplete_signature("The Authorization header is given more than once")
    fields = _fields(authorization[0])
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not scope[0]:
        raise incomplete_signature(
            f"Credential {fields['Credential']!r} is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request"
        )
    signed = tuple(fields["SignedHeaders"].split(";"))
    if any(name != name.lower() or not name for name in signed) or list(signed) != sorted(signed):
        raise incomplete_signature("SignedHeaders must be lower-case header names, sorted, separated by ';'")
    tokens = request.header("x-amz-security-token")
    return Claim(
        access_key=scope[0],
        scope_date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=signed,
        signature=fields["Signature"],
        timestamp=_timestamp(request),
        session_token=tokens[0] if tokens else None,
    )


def check_claim(
    claim: Claim, request: HttpRequest, *, now: dt.datetime, region: str, service: str, skew: dt.timedelta
) -> None:
    """The checks that need no secret: time window, scope, the headers that must be signed, the body digest."""
    stamp = claim.timestamp
    if claim.time < now - skew:
        raise signature_mismatch(
            f"Signature expired: {stamp} is now earlier than {(now - skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - {_minutes(skew)} min.)"
        )
    if claim.time > now + skew:
        raise signature_mismatch(
            f"Signature not yet current: {stamp} is still later than {(now + skew).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} + {_minutes(skew)} min.)"
        )
    if claim.scope_date != stamp[:8]:
        raise signature_mismatch(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{claim.scope_date}' != '{stamp[:8]}', from '{stamp}'."
        )
    if claim.service != service:
        raise signature_mismatch(f"Credential should be scoped to correct service: '{service}'. ")
    if claim.region != region:
        raise signature_mismatch(
            f"Credential should be scoped to a valid region: this endpoint serves '{region}', the request is signed "
            f"for '{claim.region}' (set AWS_DEFAULT_REGION or --region {region})"
        )
    required = ["host", *(["x-amz-date"] if request.header("x-amz-date") else [])]
    required += ["x-amz-security-token"] if claim.session_token is not None else []
    for name in required:
        if name not in claim.signed_headers:
            signed = ";".join(claim.signed_headers)
            raise signature_mismatch(f"'{name}' must be a signed header (SignedHeaders={signed})")
    for name in claim.signed_headers:
        if not request.header(name):
            raise signature_mismatch(f"The signed header '{name}' is not in the request")
    for digest in request.header("x-amz-content-sha256"):
        if digest != hashlib.sha256(request.body).hexdigest():
            raise QueryError(
                "XAmzContentSHA256Mismatch",
                "The X-Amz-Content-SHA256 header does not match the body: this endpoint needs signed payloads",
            )


def _minutes(skew: dt.timedelta) -> int:
    return int(skew.total_seconds() // 60)


class _ClientsHeaders(SigV4Auth):
    """botocore's signer, signing exactly the headers the client signed (not botocore's own choice of them)."""

    def __init__(self, credentials: Credentials, service: str, region: str, names: Sequence[str]) -> None:
        super().__init__(credentials, service, region)
        self._names = names

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._names:
            for value in request.headers.get_all(name) or []:
                chosen[name] = value
        return chosen


def expected_signature(request: HttpRequest, claim: Claim, secret_key: str) -> str:
    """The signature the holder of `secret_key` would have computed for this request."""
    wanted = set(claim.signed_headers)
    headers = HTTPHeaders()
    for key, value in request.headers:
        if key.lower() in wanted:
            headers[key.lower()] = value
    url = f"https://{request.header('host')[0]}{request.path}" + (f"?{request.query}" if request.query else "")
    unsigned = AWSRequest(method=request.method, url=url, data=request.body)
    unsigned.headers = headers
    unsigned.context["timestamp"] = claim.timestamp
    credentials = Credentials(claim.access_key, secret_key, claim.session_token)
    signer = _ClientsHeaders(credentials, claim.service, claim.region, claim.signed_headers)
    canonical = signer.canonical_request(unsigned)
    return str(signer.signature(signer.string_to_sign(unsigned, canonical), unsigned))


def signature_matches(request: HttpRequest, claim: Claim, secret_key: str) -> bool:
    expected = expected_signature(request, claim, secret_key)
    return hmac.compare_digest(expected.encode(), claim.signature.encode())
