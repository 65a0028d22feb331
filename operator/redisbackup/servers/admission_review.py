"""The shape of an AdmissionReview, checked before kopf sees it: malformed reviews get a 400, not a 500.

kopf assumes a well-formed review (`request` a mapping, `object` a mapping …) and answers anything else with a
traceback and a 500. The apiserver never sends such a review, but the webhook's port is reachable from inside the
cluster, so whatever reaches it must get a clear client error and leave no traceback in the operator's log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MAPPINGS = ("kind", "resource", "userInfo")
_OBJECTS = ("object", "oldObject")


def review_problem(review: Any) -> str | None:
    """Why `review` is not an AdmissionReview request kopf can serve, or None when it is one."""
    if not isinstance(review, Mapping):
        return f"the body is a JSON {type(review).__name__}, not an AdmissionReview object"
    request = review.get("request")
    if not isinstance(request, Mapping):
        return "request is missing or not an object"
    # Presence (userInfo, object) kopf checks itself with a 400; it trusts the types, so they are checked here.
    for name in (*_MAPPINGS, *_OBJECTS):
        if request.get(name) is not None and not isinstance(request.get(name), Mapping):
            return f"request.{name} is not an object"
    for name in ("uid", "operation", "subResource"):
        if request.get(name) is not None and not isinstance(request.get(name), str):
            return f"request.{name} is not a string"
    metadata = [(request.get(name) or {}).get("metadata") for name in _OBJECTS]
    if any(m is not None and not isinstance(m, Mapping) for m in metadata):
        return "the object's metadata is not an object"
    return None


# kopf's admission entry point refuses a review it cannot route with these (not exported by kopf): a client error
# each, as kopf's own server answers them. Matched by name, so that a rename in kopf shows as a 500 in the tests
# (test_admission_review) rather than as an import error at start-up.
_KOPF_REFUSALS: dict[str, type[web.HTTPClientError]] = {
    "AmbiguousResourceError": web.HTTPConflict,
    "UnknownResourceError": web.HTTPNotFound,
    "WebhookError": web.HTTPBadRequest,
}


def _refusal(error: Exception) -> type[web.HTTPClientError] | None:
    for cls in type(error).__mro__:
        if cls.__module__.startswith("kopf.") and cls.__name__ in _KOPF_REFUSALS:
            return _KOPF_REFUSALS[cls.__name__]
    return None


async def serve_review(fn: kopf.WebhookFn, request: web.Request) -> web.Response:
    """One admission request: UTF-8 JSON of an AdmissionReview's shape (else a 400 saying why), answered by `fn`."""
    try:
        text = (await request.read()).decode("utf-8")
    except UnicodeDecodeError as error:
        raise web.HTTPBadRequest(text=f"not an AdmissionReview: the body is not UTF-8 JSON ({error})") from error
    try:
        review = json.loads(text)
    except ValueError as error:
        raise web.HTTPBadRequest(text=f"not an AdmissionReview: the body is not JSON ({error})") from error
    # Who calls (the apiserver's identity, not the user's): what kopf passes on to its handlers.
    sslpeer = request.transport.get_extra_info("peercert") if request.transport else None
    try:
        answer = await checked(fn)(
            review, webhook=request.match_info.get("id"), sslpeer=sslpeer, headers=dict(request.headers)
        )
    except web.HTTPException:
        raise
    except Exception as error:
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal(text=str(error) or type(error).__name__) from error
    return web.json_response(answer)


def application(fn: kopf.WebhookFn, stopping: asyncio.Event | None = None) -> web.Application:
    """The webhook's routes: every path, its last part naming the handler (kopf's `/{id}` convention). Once
    `stopping` is set, every answer closes its connection (`Connection: close`), so the caller's next request opens
    a new one, to a server that stays."""

    async def serve(request: web.Request) -> web.Response:
        return await serve_review(fn, request)

    @web.middleware
    async def close_when_stopping(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as refusal:
            if stopping is not None and stopping.is_set():
                refusal.force_close()
            raise
        if stopping is not None and stopping.is_set():
            response.force_close()
        return response

    app = web.Application(middlewares=[close_when_stopping])
    app.add_routes([web.post("/{id:.*}", serve)])
    return app


def checked(fn: kopf.WebhookFn) -> kopf.WebhookFn:
    """`fn` (kopf's admission entry point) behind the shape check: a malformed review is a 400 Bad Request."""

    async def serve(review: Any, **kwargs: Any) -> Any:
        problem = review_problem(review)
        if problem is not None:
            raise web.HTTPBadRequest(text=f"not an admission.k8s.io/v1 AdmissionReview request: {problem}")
        return await fn(review, **kwargs)

    return serve  # type: ignore[return-value]
