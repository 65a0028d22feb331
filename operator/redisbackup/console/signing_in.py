"""Signing in with one's own Kubernetes token, and out.

The form posts the token (never in a URL); the apiserver says whose it is (SelfSubjectReview); the session cookie then
holds it sealed (`console.sessions`). The form itself carries a CSRF token bound to a short-lived cookie, so no
other site can sign a browser in as someone else.
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from redisbackup.console.context import PREFIX, console_of, render, see_other, visitor_of
from redisbackup.console.sessions import PLAIN_SIGN_IN_COOKIE, SIGN_IN_COOKIE, TokenTooLong
from redisbackup.console.visitors import cookie_name
from redisbackup.domain.faults import RedisBackupError

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
FORM_SECONDS = 3600


def _sign_in_cookie(request: web.Request) -> str:
    return SIGN_IN_COOKIE if request.secure else PLAIN_SIGN_IN_COOKIE


def _form(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    csrf = console_of(request).keys.csrf_token(f"sign-in:{nonce}")
    response = render(request, "sign_in.html", status=status, error=error, form_token=csrf, title="Sign in")
    response.set_cookie(
        _sign_in_cookie(request),
        nonce,
        max_age=FORM_SECONDS,
        path="/",
        secure=request.secure,
        httponly=True,
        samesite="Strict",
    )
    return response


@routes.get(f"{PREFIX}/sign-in")
async def sign_in_form(request: web.Request) -> web.Response:
    return _form(request)


@routes.post(f"{PREFIX}/sign-in")
async def sign_in(request: web.Request) -> web.Response:
    console = console_of(request)
    form = await request.post()
    nonce = request.cookies.get(_sign_in_cookie(request), "")
    presented = form.get("csrf_token")
    if not nonce or not console.keys.csrf_matches(f"sign-in:{nonce}", presented if isinstance(presented, str) else ""):
        return _form(request, error="The sign-in form expired: enter your token again.", status=403)
    token = str(form.get("token") or "").strip()
    if not token:
        return _form(request, error="Token is empty: paste your Kubernetes token (kubectl create token …).", status=422)
    try:
        reviewed = await console.visitors.review(token)
    except RedisBackupError as fault:
        return _form(request, error=f"Could not check the token: {fault.message}", status=503)
    if not reviewed.authenticated:
        return _form(request, error=f"The Kubernetes API did not accept this token: {reviewed.error}", status=401)
    try:
        _, value = console.keys.start(token, reviewed.user)
    except TokenTooLong as error:
        return _form(request, error=f"{error}: use Authorization: Bearer from a script instead.", status=422)
    log.info("Signed in to the console: %s", reviewed.user)
    response = see_other(f"{PREFIX}/redis")
    response.set_cookie(
        cookie_name(request),
        value,
        max_age=int(console.keys.lifetime),
        path="/",
        secure=request.secure,
        httponly=True,
        samesite="Strict",
    )
    response.del_cookie(_sign_in_cookie(request), path="/", secure=request.secure, samesite="Strict")
    raise response


@routes.post(f"{PREFIX}/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    if visitor.session is not None:
        console_of(request).keys.sign_out(visitor.session)
    log.info("Signed out of the console: %s", visitor.user)
    response = see_other(f"{PREFIX}/sign-in")
    response.del_cookie(cookie_name(request), path="/", secure=request.secure, samesite="Strict")
    raise response


@routes.get(PREFIX)
@routes.get(f"{PREFIX}/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{PREFIX}/redis")
