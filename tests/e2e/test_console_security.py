"""The console's identity and security over real HTTPS, against the real apiserver, without a browser: the session
cookie's flags, CSRF on writes, tokens the apiserver refuses, no token in the server's log, and every read and
write made as the signed-in user — the server itself has no right to list a single RedisBackup."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

from devstack.cluster import Cluster
from devstack.console import BACKUP_RULES, RunningConsole, user_token
from devstack.elasticache_api import SERVER_ACCOUNT

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "__Host-redisbackup-console"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found[1]


def _set_cookie(response: requests.Response, name: str) -> str:
    headers = response.raw.headers.getlist("Set-Cookie")
    found = [header for header in headers if header.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {headers}"
    return str(found[0])


def _session(console: RunningConsole) -> requests.Session:
    """A client that trusts the console's CA only (not REQUESTS_CA_BUNDLE, which would override it) and no proxy."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(console.ca_file)
    return session


def _signed_in(console: RunningConsole, token: str) -> tuple[requests.Session, requests.Response]:
    session = _session(console)
    form = session.get(f"{console.url}sign-in")
    assert form.status_code == 200
    answer = session.post(
        f"{console.url}sign-in", data={"token": token, "csrf_token": _csrf(form.text)}, allow_redirects=False
    )
    return session, answer


@pytest.fixture
def http(console: RunningConsole) -> Iterator[requests.Session]:
    with _session(console) as session:
        yield session


def test_signing_in_over_https_sets_a_secure_httponly_strict_cookie_and_the_token_is_nowhere_else(
    kube: Cluster, console: RunningConsole, namespace: str
) -> None:
    token = user_token(kube, namespace, "backup-user", BACKUP_RULES)
    session, answer = _signed_in(console, token)
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == "/console/redis"
    cookie = _set_cookie(answer, SESSION_COOKIE)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "secure" in attributes, cookie
    assert "httponly" in attributes, cookie
    assert attributes["samesite"] == "SameSite=Strict", cookie
    assert attributes["path"] == "Path=/", cookie
    assert "domain" not in attributes, cookie  # __Host-: no subdomain can set or read it
    assert token not in cookie

    page = session.get(f"{console.url}redis?namespace={namespace}")
    assert page.status_code == 200
    assert f"system:serviceaccount:{namespace}:backup-user" in page.text
    assert token not in page.text
    assert token not in page.url
    csrf = _csrf(page.text)

    # Every write needs the session's CSRF token, from this console's origin.
    assert session.post(f"{console.url}sign-out", data={}, allow_redirects=False).status_code == 403
    assert (
        session.post(f"{console.url}sign-out", data={"csrf_token": "forged"}, allow_redirects=False).status_code == 403
    )
    elsewhere = session.post(
        f"{console.url}sign-out", data={"csrf_token": csrf}, headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )  # fmt: skip
    assert elsewhere.status_code == 403
    signed_out = session.post(f"{console.url}sign-out", data={"csrf_token": csrf}, allow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"] == "/console/sign-in"
    replayed = _session(console).get(
        f"{console.url}redis", cookies={SESSION_COOKIE: cookie.split(";")[0].split("=", 1)[1]}, allow_redirects=False
    )
    assert replayed.status_code == 303  # the signed-out cookie opens nothing: back to the sign-in form
    assert replayed.headers["Location"] == "/console/sign-in"

    assert token not in console.api.process.log_path.read_text(errors="replace")


def test_a_token_the_apiserver_does_not_accept_is_refused_at_sign_in_and_from_a_script(
    console: RunningConsole, http: requests.Session
) -> None:
    forged = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl"
    _, answer = _signed_in(console, forged)
    assert answer.status_code == 401
    assert "did not accept this token: it is invalid, expired or revoked (401 Unauthorized)" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("Set-Cookie", "")

    script = http.get(f"{console.url}backups", headers={"Authorization": f"Bearer {forged}"})
    assert script.status_code == 401
    assert script.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert http.get(f"{console.url}backups", allow_redirects=False).status_code == 303  # no credentials: sign in


def _backup(kube: Cluster, namespace: str, name: str) -> None:
    kube.kubectl(
        "apply", "-n", namespace, "-f", "-",
        input=(
            "apiVersion: redisbackup.io/v1alpha1\nkind: RedisBackup\n"
            f"metadata:\n  name: {name}\nspec:\n  snapshotName: {name}\n  cacheClusterId: shop-001\n"
        ),
    )  # fmt: skip
    # No operator runs here: the status it would write, so that the backup may be deleted (not while creating).
    kube.kubectl(
        "patch", "rb", name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"phase": "available"}}',
    )  # fmt: skip


def test_every_read_and_write_is_the_users_own_and_rbac_decides(
    kube: Cluster, console: RunningConsole, namespace: str, http: requests.Session
) -> None:
    other = kube.create_namespace("console-other-team")
    try:
        _backup(kube, namespace, "ours")
        _backup(kube, other, "theirs")
        # The server itself may not list RedisBackups anywhere: whatever a page shows, the user's token read it.
        server = f"system:serviceaccount:{console.api.keys_namespace}:{SERVER_ACCOUNT}"
        can = kube.kubectl("auth", "can-i", "list", "redisbackups.redisbackup.io", "-A", f"--as={server}", check=False)
        assert can.stdout.strip() == "no"

        token = user_token(kube, namespace, "backup-user", BACKUP_RULES)
        bearer = {"Authorization": f"Bearer {token}"}
        everything = http.get(f"{console.url}backups", headers=bearer)
        assert everything.status_code == 200
        assert ">ours</a>" in everything.text
        assert "theirs" not in everything.text

        refused = http.get(f"{console.url}backups?namespace={other}", headers=bearer)
        assert refused.status_code == 200  # the page, with the apiserver's reason in place of the list
        assert "theirs" not in refused.text
        assert f'cannot list resource "redisbackups" in API group "redisbackup.io" in the namespace "{other}"' in (
            refused.text.replace("&#34;", '"')
        )

        details = http.get(f"{console.url}backups/{other}/theirs", headers=bearer)
        assert details.status_code == 403
        assert "theirs" in details.text.replace("&#34;", '"')
        assert 'cannot get resource "redisbackups"' in details.text.replace("&#34;", '"')

        # A write (a script's: no CSRF token needed with a bearer token) is refused by RBAC, not by the console.
        deleted = http.post(f"{console.url}backups/{other}/theirs/delete", data={"confirm": "theirs"}, headers=bearer)
        assert deleted.status_code == 403
        assert kube.kubectl("get", "rb", "theirs", "-n", other, check=False).returncode == 0
        ours = http.post(
            f"{console.url}backups/{namespace}/ours/delete", data={"confirm": "ours"}, headers=bearer,
            allow_redirects=False,
        )  # fmt: skip
        assert ours.status_code == 303
        # No operator runs here, so no finalizer holds it: the user's delete removed it at once.
        left = kube.kubectl("get", "rb", "ours", "-n", namespace, "--ignore-not-found", "-o", "name")
        assert left.stdout.strip() == ""
    finally:
        kube.delete_namespace(other)
