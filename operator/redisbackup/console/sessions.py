"""Console sessions: the signed-in user's own Kubernetes token, sealed in the session cookie.

The server keeps no session store: the cookie holds the token, the user's name and an expiry, encrypted and
authenticated with AES-GCM under the server's session key (the Kubernetes Dashboard keeps its sessions the same
way), so any replica that has the key serves any user, and a restart with a mounted key signs nobody out. The
cookie is HttpOnly, SameSite=Strict, Secure on HTTPS, and never holds the token in clear; the token never appears
in a URL or a log line.

CSRF: every form that writes carries a token derived from the session (HMAC of its id), compared in constant time
(`secrets.compare_digest`); SameSite=Strict already keeps other sites' requests cookie-less. Signing out forgets
the session id until the cookie would have expired anyway, on this replica.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECURE_COOKIE = "__Host-redisbackup-console"  # __Host-: Secure, Path=/, no Domain — no subdomain can set it
PLAIN_COOKIE = "redisbackup-console"
SIGN_IN_COOKIE = "__Host-redisbackup-sign-in"
PLAIN_SIGN_IN_COOKIE = "redisbackup-sign-in"
LIFETIME = 8 * 3600.0
MAX_COOKIE = 4000  # browsers keep cookies of up to 4096 bytes, name and attributes included
_NONCE = 12


@dataclass(frozen=True)
class Session:
    token: str
    user: str
    session_id: str
    expires: float


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"redisbackup-console " + purpose).derive(key)


class TokenTooLong(ValueError):
    """The token does not fit in a cookie (some OIDC tokens with many groups are that large)."""


class SessionKeys:
    """Seals and opens sessions, and makes and checks their CSRF tokens."""

    def __init__(self, key: bytes, *, lifetime: float = LIFETIME) -> None:
        if len(key) < 32:
            raise ValueError("the console's session key must be at least 32 bytes")
        self._seal = AESGCM(_derive(key, b"session"))
        self._mac = _derive(key, b"csrf")
        self.lifetime = lifetime
        self._signed_out: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path, *, lifetime: float = LIFETIME) -> SessionKeys:
        return cls(path.read_bytes().strip(), lifetime=lifetime)

    @classmethod
    def generated(cls, *, lifetime: float = LIFETIME) -> SessionKeys:
        """A key of this process only: sessions end when it restarts, and replicas do not share them."""
        return cls(secrets.token_bytes(32), lifetime=lifetime)

    def start(self, token: str, user: str, now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(token, user, secrets.token_urlsafe(16), (now or time.time()) + self.lifetime)
        value = self.seal(session)
        if len(value) > MAX_COOKIE:
            raise TokenTooLong(f"the token is {len(token)} characters: too long to keep in a browser's cookie")
        return session, value

    def seal(self, session: Session) -> str:
        plain = json.dumps({"t": session.token, "u": session.user, "s": session.session_id, "e": session.expires})
        nonce = secrets.token_bytes(_NONCE)
        return base64.urlsafe_b64encode(nonce + self._seal.encrypt(nonce, plain.encode(), None)).decode()

    def open(self, value: str, now: float | None = None) -> Session | None:
        """The session of a cookie value; None when it is forged, damaged, expired or signed out."""
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            plain = self._seal.decrypt(raw[:_NONCE], raw[_NONCE:], None)
            fields = json.loads(plain)
            session = Session(str(fields["t"]), str(fields["u"]), str(fields["s"]), float(fields["e"]))
        except (InvalidTag, ValueError, binascii.Error, KeyError, TypeError, UnicodeError):
            return None
        current = now or time.time()
        if session.expires <= current:
            return None
        with self._lock:
            if session.session_id in self._signed_out:
                return None
        return session

    def sign_out(self, session: Session, now: float | None = None) -> None:
        current = now or time.time()
        with self._lock:
            self._signed_out = {sid: until for sid, until in self._signed_out.items() if until > current}
            self._signed_out[session.session_id] = session.expires

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._mac, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, session_id: str, presented: str | None) -> bool:
        return secrets.compare_digest(self.csrf_token(session_id), presented or "")
