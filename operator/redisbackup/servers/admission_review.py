"""The shape of an AdmissionReview, checked before kopf sees it: malformed reviews get a 400, not a 500.

kopf assumes a well-formed review (`request` a mapping, `object` a mapping …) and answers anything else with a
traceback and a 500. The apiserver never sends such a review, but the webhook's port is reachable from inside the
cluster, so whatever reaches it must get a clear client error and leave no traceback in the operator's log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
from aiohttp import web

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


class WebhookServer(kopf.WebhookServer):
    """kopf's server, refusing a body that is not UTF-8 with a 400 (kopf decodes it unguarded: a 500)."""

    @staticmethod
    async def _serve(fn: kopf.WebhookFn, request: web.Request) -> web.Response:
        try:
            (await request.read()).decode("utf-8")  # read() caches the body for kopf's own request.text()
        except UnicodeDecodeError as error:
            raise web.HTTPBadRequest(text=f"not an AdmissionReview: the body is not UTF-8 JSON ({error})") from error
        response: web.Response = await kopf.WebhookServer._serve(fn, request)
        return response


def checked(fn: kopf.WebhookFn) -> kopf.WebhookFn:
    """`fn` (kopf's admission entry point) behind the shape check: a malformed review is a 400 Bad Request."""

    async def serve(review: Any, **kwargs: Any) -> Any:
        problem = review_problem(review)
        if problem is not None:
            raise web.HTTPBadRequest(text=f"not an admission.k8s.io/v1 AdmissionReview request: {problem}")
        return await fn(review, **kwargs)

    return serve  # type: ignore[return-value]
