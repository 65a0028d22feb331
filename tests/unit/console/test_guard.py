"""Who may use the console and how: sign in with one's own token, sessions in sealed HttpOnly SameSite=Strict
cookies, CSRF on every write, bearer tokens for scripts, and the browser security headers."""

from __future__ import annotations

import aiohttp
import pytest

from redisbackup.console.guard import CONTENT_SECURITY_POLICY
from redisbackup.k8s import redisbackups
from redisbackup.k8s.faults import AccessDenied
from tests.unit.console.support import hidden, jar, make_console, serving, signed_in


async def test_a_page_without_a_session_sends_the_browser_to_the_sign_in_form() -> None:
    async with serving(make_console()) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        async with session.get(f"{base}/redis", allow_redirects=False) as answer:
            assert answer.status == 303
            assert answer.headers["Location"] == "/console/sign-in"
        async with session.get(f"{base}/sign-in") as form:
            html = await form.text()
            assert form.status == 200
            assert form.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
            assert form.headers["X-Frame-Options"] == "DENY"
            assert '<label for="token">Token</label>' in html
            assert "<script>" not in html  # no inline script: the CSP would block it


async def test_signing_in_seals_the_token_in_an_httponly_strict_cookie_never_in_clear() -> None:
    async with serving(make_console()) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        answer = await signed_in(session, base)
        assert answer.status == 303
        assert answer.headers["Location"] == "/console/redis"
        cookie = next(c for c in answer.cookies.values() if c.key == "redisbackup-console")
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/"
        assert "good-token" not in cookie.value
        assert "good-token" not in answer.headers.get("Location", "")


async def test_a_token_the_apiserver_refuses_is_not_signed_in_and_says_why() -> None:
    async with serving(make_console()) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        answer = await signed_in(session, base, token="forged")
        assert answer.status == 401
        assert "did not accept this token: token not found" in answer.text
        assert not [c for c in session.cookie_jar if c.key == "redisbackup-console"]


async def test_the_sign_in_form_needs_its_own_csrf_token() -> None:
    async with (
        serving(make_console()) as base,
        aiohttp.ClientSession(cookie_jar=jar()) as session,
        session.post(f"{base}/sign-in", data={"token": "good-token", "csrf_token": "x"}) as answer,
    ):
        assert answer.status == 403


async def test_a_write_without_the_sessions_csrf_token_is_refused_and_with_it_signs_out() -> None:
    console = make_console()
    async with serving(console) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        await signed_in(session, base)
        async with session.get(f"{base}/sign-in") as page:  # any page carries the session's CSRF token …
            await page.text()
        async with session.post(f"{base}/sign-out", data={"csrf_token": "forged"}, allow_redirects=False) as refused:
            assert refused.status == 403
        csrf = console.keys.csrf_token(_session_id(console, session))
        async with session.post(
            f"{base}/sign-out", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as other_origin:  # fmt: skip
            assert other_origin.status == 403
        async with session.post(f"{base}/sign-out", data={"csrf_token": csrf}, allow_redirects=False) as out:
            assert out.status == 303
            assert out.headers["Location"] == "/console/sign-in"


def _session_id(console: object, session: aiohttp.ClientSession) -> str:
    value = next(c.value for c in session.cookie_jar if c.key == "redisbackup-console")
    opened = console.keys.open(value)  # type: ignore[attr-defined]
    assert opened is not None
    return str(opened.session_id)


async def test_a_signed_out_session_cookie_no_longer_works_even_if_replayed() -> None:
    console = make_console()
    async with serving(console) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        await signed_in(session, base)
        value = next(c.value for c in session.cookie_jar if c.key == "redisbackup-console")
        csrf = console.keys.csrf_token(_session_id(console, session))
        async with session.post(f"{base}/sign-out", data={"csrf_token": csrf}, allow_redirects=False):
            pass
    async with (
        serving(console) as base,
        aiohttp.ClientSession(cookies={"redisbackup-console": value}, cookie_jar=jar()) as replay,
        replay.post(f"{base}/sign-out", data={"csrf_token": csrf}, allow_redirects=False) as answer,
    ):
        assert answer.status == 401


async def test_a_script_signs_in_with_its_bearer_token_and_needs_no_csrf_token() -> None:
    async with serving(make_console()) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        bad = {"Authorization": "Bearer forged"}
        async with session.post(f"{base}/sign-out", headers=bad, allow_redirects=False) as refused:
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        good = {"Authorization": "Bearer bob-token"}
        async with session.post(f"{base}/sign-out", headers=good, allow_redirects=False) as answer:
            assert answer.status == 303


def test_the_hidden_field_helper_finds_the_token() -> None:
    assert hidden('<input type="hidden" name="csrf_token" value="abc">', "csrf_token") == "abc"


async def test_the_stylesheet_and_script_come_from_the_package_without_signing_in() -> None:
    async with serving(make_console()) as base, aiohttp.ClientSession(cookie_jar=jar()) as session:
        for name, kind in (("console.js", "javascript"), ("console.css", "text/css")):
            async with session.get(f"{base}/static/{name}") as answer:
                assert answer.status == 200
                assert kind in answer.headers["Content-Type"]
                assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert "https://" not in await answer.text()  # the assets fetch nothing from elsewhere
        async with session.get(f"{base}/sign-in") as page:
            html = await page.text()
        assert 'src="/console/static/console.js' in html
        assert "//" not in html.split("<body", 1)[0].replace("://", "")  # no CDN, no external asset


async def test_a_refusal_no_page_handles_is_a_page_with_the_apiservers_words_not_a_500(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forbidden(namespace: str, name: str, client: object) -> None:
        raise AccessDenied(f'not allowed to get RedisBackup {name}: redisbackups "{name}" is forbidden')

    monkeypatch.setattr(redisbackups, "get_backup", forbidden)
    async with (
        serving(make_console()) as base,
        aiohttp.ClientSession(cookie_jar=jar()) as session,
        session.get(f"{base}/backups/team-b/x", headers={"Authorization": "Bearer bob-token"}) as answer,
    ):
        html = await answer.text()
        assert answer.status == 403
        assert "<h1>Not allowed</h1>" in html
        assert "AccessDenied: not allowed to get RedisBackup x: redisbackups &#34;x&#34; is forbidden" in html
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
