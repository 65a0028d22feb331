"""Access keys of the ElastiCache API: Secrets in the API server's namespace, each bound to a Kubernetes identity.

    apiVersion: v1
    kind: Secret
    type: redisbackup.io/access-key
    metadata:
      name: backup-bot-key                         # any name
      namespace: redisbackup                       # the API server's namespace (only administrators write there)
      labels: {redisbackup.io/access-key-id: RBKQ4WZ3T5XN2MDEV7LA}
    stringData:
      accessKeyId: RBKQ4WZ3T5XN2MDEV7LA
      secretAccessKey: …                           # what AWS_SECRET_ACCESS_KEY holds
      serviceAccount: team-a/backup-bot            # the identity calls are made as: a ServiceAccount, or
      # user: alice                                #   a user
      namespace: team-a                            # where its snapshots are (default: the ServiceAccount's)

`redisbackup create-access-key` writes one; deleting the Secret revokes the key (within `CACHE_SECONDS`). The
server finds a key by its label (one list call, cached briefly); the label must agree with the data.
"""

from __future__ import annotations

import base64
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes

from redisbackup.k8s import rest
from redisbackup.k8s.client import api_client
from redisbackup.k8s.faults import calling
from redisbackup.k8s.identity import service_account_user

SECRET_TYPE = "redisbackup.io/access-key"
KEY_ID_LABEL = "redisbackup.io/access-key-id"
CACHE_SECONDS = 5.0
KEY_ID_PREFIX = "RBK"  # as AWS's keys start with AKIA: recognisable in logs and in leaked-secret scanners


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    user: str
    """The Kubernetes user calls are made as (system:serviceaccount:NS:NAME for a ServiceAccount)."""
    namespace: str
    secret_name: str = ""

    def describe(self) -> dict[str, Any]:
        """The key without its secret, as `aws iam list-access-keys` would show it."""
        return {"AccessKeyId": self.access_key_id, "UserName": self.user, "Namespace": self.namespace}


def new_key_id() -> str:
    alphabet = string.ascii_uppercase + "234567"
    return KEY_ID_PREFIX + "".join(secrets.choice(alphabet) for _ in range(17))


def new_secret() -> str:
    return secrets.token_urlsafe(30)  # 40 characters, as AWS's secret access keys


def secret_body(key: AccessKey, *, service_account: str | None, name: str) -> dict[str, Any]:
    """The Secret that holds `key` (`service_account` NS/NAME, else `key.user` is a user)."""
    data = {"accessKeyId": key.access_key_id, "secretAccessKey": key.secret_access_key, "namespace": key.namespace}
    data.update({"serviceAccount": service_account} if service_account else {"user": key.user})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": SECRET_TYPE,
        "metadata": {"name": name, "labels": {KEY_ID_LABEL: key.access_key_id}},
        "stringData": data,
    }


def _decoded(secret: Mapping[str, Any]) -> dict[str, str]:
    data = secret.get("data") or {}
    try:
        return {key: base64.b64decode(value).decode() for key, value in data.items()}
    except (ValueError, UnicodeError):
        return {}


def from_secret(secret: Mapping[str, Any]) -> AccessKey | None:
    """The key a Secret holds; None when it is not a well-formed access key Secret (it is then ignored)."""
    metadata = secret.get("metadata") or {}
    data = _decoded(secret)
    key_id, secret_key = data.get("accessKeyId", ""), data.get("secretAccessKey", "")
    if secret.get("type") != SECRET_TYPE or not key_id or not secret_key:
        return None
    if (metadata.get("labels") or {}).get(KEY_ID_LABEL) != key_id:
        return None
    if data.get("serviceAccount"):
        account_namespace, _, account = data["serviceAccount"].rpartition("/")
        if not account_namespace or not account:
            return None
        user, namespace = service_account_user(account_namespace, account), data.get("namespace") or account_namespace
    elif data.get("user") and data.get("namespace"):
        user, namespace = data["user"], data["namespace"]
    else:
        return None
    return AccessKey(key_id, secret_key, user, namespace, str(metadata.get("name", "")))


def _list(namespace: str, selector: str, client: kubernetes.client.ApiClient | None) -> list[dict[str, Any]]:
    api = kubernetes.client.CoreV1Api(client or api_client())
    listing = calling(
        f"list access key Secrets in namespace {namespace}",
        rest.fetch,
        api.list_namespaced_secret,
        namespace,
        label_selector=selector,
    )
    items: list[dict[str, Any]] = listing.get("items") or []
    return items


class AccessKeys:
    """The keys of one namespace, looked up by id with the server's own client, each answer kept `ttl` seconds."""

    def __init__(
        self, namespace: str, *, ttl: float = CACHE_SECONDS, client: kubernetes.client.ApiClient | None = None
    ) -> None:
        self.namespace = namespace
        self.ttl = ttl
        self._client = client
        self._cache: dict[str, tuple[float, AccessKey | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, access_key_id: str) -> AccessKey | None:
        """The key with this id, None when there is none (synchronous: run it through rest.run)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(access_key_id)
            if cached is not None and now - cached[0] < self.ttl:
                return cached[1]
        key = None
        if _label_value(access_key_id):
            secrets_found = _list(self.namespace, f"{KEY_ID_LABEL}={access_key_id}", self._client)
            keys = [k for k in (from_secret(s) for s in secrets_found) if k is not None]
            key = keys[0] if len(keys) == 1 else None  # two Secrets claiming one id: neither is trusted
        with self._lock:
            if len(self._cache) > 10_000:  # a flood of made-up ids must not grow memory without bound
                self._cache.clear()
            self._cache[access_key_id] = (now, key)
        return key


def _label_value(text: str) -> bool:
    """Whether `text` can be a label value (else no Secret can carry it, and it is no key of ours)."""
    allowed = set(string.ascii_letters + string.digits + "-_.")
    return 0 < len(text) <= 63 and set(text) <= allowed and text[0].isalnum() and text[-1].isalnum()


def create(
    namespace: str, key: AccessKey, *, service_account: str | None, name: str, client: kubernetes.client.ApiClient
) -> dict[str, Any]:
    api = kubernetes.client.CoreV1Api(client)
    body = secret_body(key, service_account=service_account, name=name)
    return calling(
        f"create Secret {name} in namespace {namespace}", rest.fetch, api.create_namespaced_secret, namespace, body
    )


def find(namespace: str, access_key_id: str, client: kubernetes.client.ApiClient) -> list[dict[str, Any]]:
    """The Secrets that hold the key with this id (normally one)."""
    return _list(namespace, f"{KEY_ID_LABEL}={access_key_id}", client) if _label_value(access_key_id) else []


def delete(namespace: str, name: str, client: kubernetes.client.ApiClient) -> None:
    api = kubernetes.client.CoreV1Api(client)
    calling(f"delete Secret {name} in namespace {namespace}", rest.fetch, api.delete_namespaced_secret, name, namespace)
