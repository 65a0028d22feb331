"""The Query API's HTTP handler: `POST /` (or `GET /?…`), form-encoded, SigV4-signed, answered in XML.

One request, in order: bounded body → form → rate per address → signature and caller → rate per key → Action and
Version → parameters by the input shape → the core → XML by the output shape. Whatever a client gets wrong is a
4xx with AWS's code and a message naming the problem; a 5xx only says the server's side failed (the Kubernetes
API unreachable, a bug), because clients retry those.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache.caller import Caller
from redisbackup.queryapi import errors, model, params
from redisbackup.queryapi.actions import ACTIONS, ActionSettings
from redisbackup.queryapi.authentication import Authenticator
from redisbackup.queryapi.errors import QueryError
from redisbackup.queryapi.limits import RateLimiter
from redisbackup.queryapi.metrics import ApiMetrics
from redisbackup.queryapi.rendering import render_error, render_result
from redisbackup.queryapi.sigv4 import HttpRequest

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # far more than any ElastiCache request has (50 tags are 100 fields)
BODY_SECONDS = 15.0


@dataclass
class QueryApi:
    """The endpoint: who may call (authenticator), how fast (limiter), and what the actions may wait for."""

    authenticator: Authenticator
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    settings: ActionSettings = field(default_factory=ActionSettings)
    per_address: RateLimiter = field(default_factory=lambda: RateLimiter(rate=50.0, burst=100))
    per_key: RateLimiter = field(default_factory=lambda: RateLimiter(rate=10.0, burst=40))
    max_body: int = 64 * 1024
    """Largest request body (ElastiCache's requests are a few KiB: 50 tags of 128 + 256 characters fit in 64 KiB)."""

    async def handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        action: str | None = None
        caller: Caller | None = None
        try:
            form, signed = await _read(request, self.max_body)
            if not self.per_address.allow(request.remote or "-"):
                raise errors.throttled()
            caller = await self.authenticator.caller(signed)
            if not self.per_key.allow(caller.identity):
                raise errors.throttled()
            action = _action(form)
            operation = model.operation(action)
            decoded = params.decode(operation.input_shape, form)
            result = await ACTIONS[action](caller, decoded, self.settings)
            body, status, code = render_result(operation, result, request_id), 200, "OK"
        except QueryError as refused:
            body, status, code = render_error(refused, request_id), refused.status, refused.code
        except RedisBackupError as fault:
            wired = errors.wire_error(fault)
            body, status, code = render_error(wired, request_id), wired.status, wired.code
        except Exception:  # a bug of ours: say so without details, and log them
            log.exception("ElastiCache API request %s (%s) failed", request_id, action or "no action")
            failure = QueryError(
                "InternalFailure", "The request processing has failed because of an internal error.", status=500
            )
            body, status, code = render_error(failure, request_id), failure.status, failure.code
        seconds = time.monotonic() - started
        self.metrics.observe(action, code, seconds)
        who = f"{caller.identity} in {caller.namespace}" if caller else request.remote
        log.log(
            logging.INFO if status < 500 else logging.WARNING,
            "%s by %s: %d %s (%.0f ms, request %s)",
            action or "request",
            who,
            status,
            code,
            seconds * 1000,
            request_id,
        )
        return web.Response(body=body, status=status, content_type="text/xml", headers={"x-amzn-RequestId": request_id})


def _parse(text: str, where: str) -> dict[str, list[str]]:
    try:
        return urllib.parse.parse_qs(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS, errors="strict"
        )
    except (ValueError, UnicodeError) as error:
        raise errors.malformed(f"The {where} is not a well-formed form ({error})") from None


async def _read(request: web.Request, max_body: int) -> tuple[dict[str, list[str]], HttpRequest]:
    """The form (query string and body together) and the request as its signature covers it."""
    if request.method not in ("GET", "POST"):
        raise QueryError("MethodNotAllowed", f"{request.method} is not allowed: send POST /", status=405)
    if request.path != "/":
        raise QueryError("InvalidURI", f"{request.path} is not served: send requests to /", status=404)
    too_large = QueryError("RequestEntityTooLarge", f"The request body is larger than {max_body} bytes", status=413)
    if (request.content_length or 0) > max_body:
        raise too_large
    try:
        async with asyncio.timeout(BODY_SECONDS):  # a client trickling its body must not hold a connection for ever
            body = await request.content.read(max_body + 1) if request.can_read_body else b""
            while len(body) <= max_body and not request.content.at_eof():
                more = await request.content.read(max_body + 1 - len(body))
                if not more:
                    break
                body += more
    except TimeoutError:
        raise QueryError(
            "RequestTimeout", f"The body did not arrive within {BODY_SECONDS:g} seconds", status=408
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if len(body) > max_body:
        raise too_large
    if body and request.content_type != FORM:
        raise QueryError(
            "UnsupportedMediaType",
            f"The body is {request.content_type or 'of no type'}: send it as {FORM}",
            status=415,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.malformed("The body is not UTF-8") from None
    query = request.rel_url.raw_query_string
    form = _parse(query, "query string")
    for key, values in _parse(text, "body").items():
        form.setdefault(key, []).extend(values)
    path = request.raw_path.split("?", 1)[0]
    headers: Sequence[tuple[str, str]] = list(request.headers.items())
    return form, HttpRequest(request.method, path, query, headers, body)


def _action(form: Mapping[str, Sequence[str]]) -> str:
    actions = form.get("Action")
    if not actions or not actions[0]:
        raise QueryError("MissingAction", "The request must contain the parameter Action", status=400)
    action = actions[0]
    if action not in model.service_model().operation_names:
        raise QueryError(
            "InvalidAction", f"Could not find operation {action} for version {model.API_VERSION}", status=400
        )
    if action not in ACTIONS:
        raise QueryError(
            "InvalidAction",
            f"{action} is an ElastiCache action this endpoint does not serve: it serves {', '.join(ACTIONS)}",
            status=400,
        )
    versions = form.get("Version")
    if not versions or not versions[0]:
        raise errors.missing_parameter("The request must contain the parameter Version")
    if versions[0] != model.API_VERSION:
        raise QueryError(
            "NoSuchVersion",
            f"The requested version ({versions[0]}) of service AmazonElastiCache does not exist: use "
            f"{model.API_VERSION}",
            status=400,
        )
    return action
