"""The console's application on a loopback port, with the apiserver's review of tokens stubbed."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from redisbackup.console.context import Console, ConsoleSettings
from redisbackup.console.sessions import SessionKeys
from redisbackup.console.visitors import Visitors
from redisbackup.k8s.identity import ReviewedToken
from redisbackup.web.app import init_app
from tests.unit.queryapi.support import NoClients, make_api

TOKENS = {"good-token": "system:serviceaccount:team-a:alice", "bob-token": "bob"}


def review(token: str) -> ReviewedToken:
    user = TOKENS.get(token)
    return ReviewedToken(True, user=user) if user else ReviewedToken(False, error="token not found")


def make_console() -> Console:
    keys = SessionKeys.generated()
    return Console(ConsoleSettings(), keys, visitors=Visitors(keys, clients=NoClients(), review=review))


@contextlib.asynccontextmanager
async def serving(console: Console) -> AsyncIterator[str]:
    server = TestServer(init_app(make_api(), console), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/console"))
    finally:
        await server.close()


def jar() -> aiohttp.CookieJar:
    """The test server is on 127.0.0.1: a cookie jar that keeps cookies of IP addresses, as browsers do."""
    return aiohttp.CookieJar(unsafe=True)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name}"
    return found[1]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    cookies: Any
    text: str


async def signed_in(session: aiohttp.ClientSession, base: str, token: str = "good-token") -> Answer:
    async with session.get(f"{base}/sign-in") as form:
        csrf = hidden(await form.text(), "csrf_token")
    async with session.post(
        f"{base}/sign-in", data={"token": token, "csrf_token": csrf}, allow_redirects=False
    ) as answer:
        return Answer(answer.status, answer.headers, answer.cookies, await answer.text())
