"""The console's middleware: who the visitor is, CSRF on every write, and the browser security headers.

Only paths under /console are guarded (the Query API on the same server has its own SigV4 authentication). A page
asked for without a session redirects to the sign-in form; a script's bearer token the apiserver refuses is a 401.
Every write (POST) from a signed-in browser must carry the session's CSRF token (form field `csrf_token` or header
X-CSRF-Token) and, when the browser says where it comes from (Origin), come from this console.

A refusal no page handled itself (RBAC forbids the visitor to read a backup, Kubernetes cannot be reached) is a page
that says so with the apiserver's words and the matching status — never a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from redisbackup.console.context import PREFIX, VISITOR, console_of, refusal_status, render
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s.identity import ReviewedToken

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Not the server's no-referrer: with it, browsers send `Origin: null` on the console's own forms.
    "Referrer-Policy": "same-origin",
}
PUBLIC = (f"{PREFIX}/sign-in", f"{PREFIX}/static/")
SAFE_METHODS = ("GET", "HEAD")


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def _presented_csrf(request: web.Request) -> str | None:
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.post()).get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def _admit(request: web.Request) -> web.StreamResponse | None:
    """None when the request may go on (the visitor set on it); else the answer that stops it."""
    console = console_of(request)
    visitor = await console.visitors.of(request)
    if isinstance(visitor, ReviewedToken):
        return web.Response(
            status=401,
            text=f"The token was not accepted by the Kubernetes API: {visitor.error}\n",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if visitor is None:
        if request.method in SAFE_METHODS and not request.path.startswith(f"{PREFIX}/live/"):
            raise web.HTTPSeeOther(f"{PREFIX}/sign-in")
        return web.Response(status=401, text="Sign in first.\n", headers={"WWW-Authenticate": "Bearer"})
    VISITOR.set(visitor)
    session = visitor.session
    if request.method not in SAFE_METHODS and session is not None:
        presented = await _presented_csrf(request)
        if not (_same_origin(request) and console.keys.csrf_matches(session.session_id, presented)):
            log.warning("Refused a write without a valid CSRF token for %s: %s", visitor.user, request.path)
            return web.Response(status=403, text="This form has expired or did not come from the console: reload it.\n")
    return None


def _refused(request: web.Request, fault: RedisBackupError) -> web.Response:
    status = refusal_status(fault)
    title = {403: "Not allowed", 404: "Not found", 503: "Kubernetes did not answer"}.get(status, "Refused")
    log.info("Console request %s %s refused: %s", request.method, request.path, fault.code)
    return render(request, "refused.html", status=status, title=title, fault_code=fault.code,
                  fault_message=fault.message)  # fmt: skip


def setup_guard(app: web.Application) -> None:
    @web.middleware
    async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != PREFIX and not request.path.startswith(f"{PREFIX}/"):
            return await handler(request)
        VISITOR.set(None)
        try:
            response = None if request.path.startswith(PUBLIC) else await _admit(request)
            if response is None:
                try:
                    response = await handler(request)
                except RedisBackupError as fault:
                    response = _refused(request, fault)
        except web.HTTPException as answer:
            answer.headers.update({k: v for k, v in HEADERS.items() if k not in answer.headers})
            raise
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.middlewares.append(console_guard)
