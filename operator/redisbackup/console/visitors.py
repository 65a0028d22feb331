"""Who is asking: a signed-in user (the session cookie) or a script (`Authorization: Bearer <token>`).

Either way the visitor is a Kubernetes token and the user the apiserver says it belongs to, asked with the token
itself (SelfSubjectReview: at sign-in, and for a bearer token at most once a minute), so the console needs no
right of the server's own, not even TokenReview. Every request the console makes for them is made with that token
(`k8s.identity.bearer`): RBAC decides what they see and do, and the server's own rights are never used for them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from redisbackup.console.sessions import PLAIN_COOKIE, SECURE_COOKIE, Session, SessionKeys
from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import api, identity
from redisbackup.k8s.api import Client
from redisbackup.k8s.identity import SERVICE_ACCOUNT_PREFIX, ClientCache, ReviewedToken

BEARER_TTL = 60.0


@dataclass(frozen=True)
class Visitor:
    user: str
    client: Client
    session: Session | None
    """None for a script that sent its token in the Authorization header (it needs no CSRF token)."""

    @property
    def home_namespace(self) -> str | None:
        """A ServiceAccount's own namespace (system:serviceaccount:NS:NAME); None for other users."""
        if self.user.startswith(SERVICE_ACCOUNT_PREFIX):
            return self.user.removeprefix(SERVICE_ACCOUNT_PREFIX).split(":", 1)[0] or None
        return None

    def caller(self, namespace: str) -> Caller:
        return Caller(self.client, namespace, self.user)


def cookie_name(request: web.Request) -> str:
    return SECURE_COOKIE if request.secure else PLAIN_COOKIE


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Visitors:
    def __init__(
        self,
        keys: SessionKeys,
        *,
        clients: ClientCache | None = None,
        review: Callable[[str], ReviewedToken] = identity.who_am_i,
    ) -> None:
        self.keys = keys
        self.clients = clients or ClientCache()
        self._review = review
        self._reviewed: dict[str, tuple[float, ReviewedToken]] = {}
        self._lock = threading.Lock()

    def client(self, token: str) -> Client:
        return self.clients.get(f"console:{_digest(token)}", lambda: identity.bearer(token))

    async def review(self, token: str) -> ReviewedToken:
        """Who the apiserver says `token` is, remembered for a minute."""
        digest, now = _digest(token), time.monotonic()
        with self._lock:
            cached = self._reviewed.get(digest)
        if cached is not None and now - cached[0] < BEARER_TTL:
            return cached[1]
        reviewed = await api.in_thread(self._review, token)
        with self._lock:
            if len(self._reviewed) > 10_000:  # made-up tokens must not grow memory without bound
                self._reviewed.clear()
            self._reviewed[digest] = (now, reviewed)
        return reviewed

    async def of(self, request: web.Request) -> Visitor | ReviewedToken | None:
        """The visitor of a request; None when it carries no credentials; the failed review of a bearer token
        the apiserver does not accept."""
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
            reviewed = await self.review(token)
            if not reviewed.authenticated:
                return reviewed
            return Visitor(reviewed.user, self.client(token), None)
        value = request.cookies.get(cookie_name(request))
        session = self.keys.open(value) if value else None
        if session is None:
            return None
        return Visitor(session.user, self.client(session.token), session)

    def close(self) -> None:
        self.clients.close()
