"""Kubernetes API clients that act as someone else: the callers of the ElastiCache API (and of the console).

A server that answers for many callers must never use its own rights for them. Two ways, both leaving every
authorization decision to the apiserver:

- `impersonating(user)`: the server's own connection with `Impersonate-User` — the server's ServiceAccount needs
  only the `impersonate` verb on the identities access keys name, and each request is then authorized as the
  impersonated user (a ServiceAccount's groups are added by the apiserver itself);
- `bearer(token)`: the caller's own Kubernetes token, as kubectl would send it — no right of the server's at all.

`review_token` asks the apiserver (TokenReview) who a token belongs to, before it is used: a bad token is then the
caller's InvalidClientTokenId, not an AccessDenied on the first call. `who_am_i` asks the same with the token itself
(SelfSubjectReview, which every signed-in user may create): the console's sign-in needs no right of the server's.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes

from redisbackup.k8s import api
from redisbackup.k8s.client import api_client
from redisbackup.k8s.faults import AccessDenied, Unauthenticated

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def service_account_user(namespace: str, name: str) -> str:
    """The user name the apiserver gives a ServiceAccount."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def _own_configuration() -> kubernetes.client.Configuration:
    own: kubernetes.client.Configuration = api_client().configuration
    return own  # the server's own: its ServiceAccount in a cluster, else KUBECONFIG


def impersonating(user: str) -> kubernetes.client.ApiClient:
    """A client whose requests the apiserver authorizes as `user` (the server's own credentials authenticate)."""
    client = kubernetes.client.ApiClient(configuration=_copy(_own_configuration()))
    client.set_default_header("Impersonate-User", user)  # type: ignore[no-untyped-call]
    return client


def bearer(token: str) -> kubernetes.client.ApiClient:
    """A client that authenticates with `token` alone (none of the server's own credentials)."""
    configuration = _copy(_own_configuration())
    configuration.api_key = {"authorization": token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    configuration.refresh_api_key_hook = None
    configuration.cert_file = configuration.key_file = None
    configuration.username = configuration.password = None
    return kubernetes.client.ApiClient(configuration=configuration)


def _copy(configuration: kubernetes.client.Configuration) -> kubernetes.client.Configuration:
    return copy.deepcopy(configuration)


@dataclass(frozen=True)
class ReviewedToken:
    authenticated: bool
    user: str = ""
    error: str = ""


def _review(token: str) -> dict[str, Any]:
    reviews = kubernetes.client.AuthenticationV1Api(api_client())
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    return api.call("review a token (TokenReview)", reviews.create_token_review, body)


def review_token(token: str) -> ReviewedToken:
    """Who the apiserver says `token` is (synchronous; run it through api.in_thread)."""
    status = _review(token).get("status") or {}
    if not status.get("authenticated"):
        return ReviewedToken(False, error=str(status.get("error") or "not authenticated"))
    return ReviewedToken(True, user=str((status.get("user") or {}).get("username") or ""))


def who_am_i(token: str) -> ReviewedToken:
    """Who the apiserver says `token` is, asked with the token itself (synchronous; run it through api.in_thread).
    A token it does not accept (401) is not authenticated; one RBAC forbids even that (403) says so."""
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    client = bearer(token)
    try:
        answer = api.call(
            "ask who the token is (SelfSubjectReview)",
            kubernetes.client.AuthenticationV1Api(client).create_self_subject_review,
            body,
        )
    except Unauthenticated:
        return ReviewedToken(False, error="it is invalid, expired or revoked (401 Unauthorized)")
    except AccessDenied as refused:
        return ReviewedToken(False, error=refused.message)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    user = ((answer.get("status") or {}).get("userInfo") or {}).get("username")
    return ReviewedToken(True, user=str(user)) if user else ReviewedToken(False, error="the apiserver named no user")


class ClientCache:
    """Kubernetes clients per identity, reused (each holds a connection pool) and closed when evicted."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._clients: OrderedDict[str, kubernetes.client.ApiClient] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, make: Callable[[], kubernetes.client.ApiClient]) -> kubernetes.client.ApiClient:
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
            client = self._clients[key] = make()
            while len(self._clients) > self.size:
                _, evicted = self._clients.popitem(last=False)
                evicted.close()  # type: ignore[no-untyped-call]
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()  # type: ignore[no-untyped-call]
            self._clients.clear()
