"""From a signed request to a `Caller`: whose key signed it, and the Kubernetes identity it stands for.

Two kinds of credentials:

- an **access key** (`redisbackup.k8s.access_keys`): the signature is checked with the key's secret, and the
  caller is the key's identity, impersonated, in the key's namespace. An unknown key is InvalidClientTokenId, a
  wrong signature SignatureDoesNotMatch (both 403, as AWS answers them); the signature is computed either way, so
  the two take the same time;
- a **Kubernetes token** as the session token (AWS_SESSION_TOKEN), when the server allows it: the access key id
  names the namespace to work in and the secret access key is the token itself (so the signature proves the
  sender holds it). The apiserver says whose token it is (TokenReview; a bad one is InvalidClientTokenId), and the
  calls are then made with the token, with none of the server's rights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import api, identity
from redisbackup.k8s.access_keys import AccessKeys
from redisbackup.k8s.identity import ClientCache
from redisbackup.queryapi import errors, sigv4
from redisbackup.queryapi.model import SERVICE

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Signing with an unknown key still derives a signature, so a made-up id costs what a real one does.
_NO_SECRET = "redisbackup-unknown-access-key"


@dataclass
class Authenticator:
    keys: AccessKeys
    region: str
    skew: dt.timedelta = sigv4.DEFAULT_SKEW
    session_tokens: bool = False
    clients: ClientCache | None = None

    def __post_init__(self) -> None:
        if self.clients is None:
            self.clients = ClientCache()

    async def caller(self, request: sigv4.HttpRequest, now: dt.datetime | None = None) -> Caller:
        claim = sigv4.read_claim(request)
        sigv4.check_claim(
            claim, request, now=now or dt.datetime.now(dt.UTC), region=self.region, service=SERVICE, skew=self.skew
        )
        if claim.session_token is not None:
            return await self._token_caller(request, claim)
        key = await api.in_thread(self.keys.lookup, claim.access_key)
        matches = sigv4.signature_matches(request, claim, key.secret_access_key if key else _NO_SECRET)
        if key is None:
            raise errors.invalid_client_token()
        if not matches:
            raise errors.signature_mismatch(SIGNATURE_MISMATCH)
        assert self.clients is not None
        client = self.clients.get(f"user:{key.user}", lambda: identity.impersonating(key.user))
        return Caller(client, key.namespace, key.user, self.region)

    async def _token_caller(self, request: sigv4.HttpRequest, claim: sigv4.Claim) -> Caller:
        token = claim.session_token or ""
        if not self.session_tokens:
            raise errors.invalid_client_token(
                "The security token included in the request is invalid: this endpoint does not accept session "
                "tokens; use an access key (ask your administrator for one)"
            )
        if not sigv4.signature_matches(request, claim, token):
            raise errors.signature_mismatch(
                f"{SIGNATURE_MISMATCH} With a Kubernetes token as AWS_SESSION_TOKEN, AWS_SECRET_ACCESS_KEY must be "
                "the same token"
            )
        if not _NAMESPACE.match(claim.access_key):
            raise errors.invalid_client_token(
                "With a Kubernetes token as AWS_SESSION_TOKEN, AWS_ACCESS_KEY_ID names the namespace to work in: "
                f"{claim.access_key!r} is not a namespace name"
            )
        reviewed = await api.in_thread(identity.review_token, token)
        if not reviewed.authenticated:
            raise errors.invalid_client_token(
                f"The security token included in the request is invalid: {reviewed.error}"
            )
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert self.clients is not None
        client = self.clients.get(f"token:{digest}", lambda: identity.bearer(token))
        return Caller(client, claim.access_key, reviewed.user, self.region)
