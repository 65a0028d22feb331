"""Access keys of the ElastiCache API: Secrets in the API server's namespace, each bound to a Kubernetes identity.

    apiVersion: v1
    kind: Secret
    type: redisbackup.io/access-key
    metadata:
      name: redisbackup-access-key-rbkq4wz3t5xn2mdev7la   # the id in lower case, after this prefix
      namespace: redisbackup                       # the API server's namespace (only administrators write there)
      labels: {redisbackup.io/access-key-id: RBKQ4WZ3T5XN2MDEV7LA}   # for kubectl get secrets -l …
    stringData:
      accessKeyId: RBKQ4WZ3T5XN2MDEV7LA
      secretAccessKey: …                           # what AWS_SECRET_ACCESS_KEY holds
      serviceAccount: team-a/backup-bot            # the identity calls are made as: a ServiceAccount, or
      # user: alice                                #   a user
      namespace: team-a                            # where its snapshots are (default: the ServiceAccount's)

`redisbackup create-access-key` writes one; deleting the Secret revokes the key (within `CACHE_SECONDS`). The
server reads a key's Secret by its name (so it needs only `get` on Secrets of its namespace, never `list`), cached
briefly; the id in the data must be the one the request names, exactly (names are lower case, ids need not be).
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redisbackup.domain.faults import ValidationFault
from redisbackup.k8s import api
from redisbackup.k8s.api import Client
from redisbackup.k8s.identity import service_account_user

SECRET_TYPE = "redisbackup.io/access-key"
KEY_ID_LABEL = "redisbackup.io/access-key-id"
CACHE_SECONDS = 5.0
KEY_ID_PREFIX = "RBK"  # as AWS's keys start with AKIA: recognisable in logs and in leaked-secret scanners
SECRET_PREFIX = "redisbackup-access-key-"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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


def secret_name(access_key_id: str) -> str | None:
    """The Secret that holds the key with this id; None when no Secret can (not a valid name)."""
    name = SECRET_PREFIX + access_key_id.lower()
    return name if len(name) <= 253 and _NAME.match(name) else None


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


def _read(namespace: str, name: str, client: Client | None) -> dict[str, Any] | None:
    action = f"read access key Secret {name} in namespace {namespace}"
    return api.call_or_none(action, api.core(client).read_namespaced_secret, name, namespace)


class AccessKeys:
    """The keys of one namespace, looked up by id with the server's own client, each answer kept `ttl` seconds."""

    def __init__(self, namespace: str, *, ttl: float = CACHE_SECONDS, client: Client | None = None) -> None:
        self.namespace = namespace
        self.ttl = ttl
        self._client = client
        self._cache: dict[str, tuple[float, AccessKey | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, access_key_id: str) -> AccessKey | None:
        """The key with this id, None when there is none (synchronous: run it through api.in_thread)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(access_key_id)
            if cached is not None and now - cached[0] < self.ttl:
                return cached[1]
        key = None
        name = secret_name(access_key_id)
        secret = _read(self.namespace, name, self._client) if name is not None else None
        if secret is not None and (found := from_secret(secret)) is not None and found.access_key_id == access_key_id:
            key = found
        with self._lock:
            if len(self._cache) > 10_000:  # a flood of made-up ids must not grow memory without bound
                self._cache.clear()
            self._cache[access_key_id] = (now, key)
        return key


def create(namespace: str, key: AccessKey, *, service_account: str | None, client: Client) -> dict[str, Any]:
    name = secret_name(key.access_key_id)
    if name is None:
        raise ValidationFault(
            f"access key id {key.access_key_id!r} cannot name a Secret: use letters and digits",
            field="--access-key-id",
        )
    body = secret_body(key, service_account=service_account, name=name)
    action = f"create Secret {name} in namespace {namespace}"
    return api.call(action, api.core(client).create_namespaced_secret, namespace, body)


def find(namespace: str, access_key_id: str, client: Client) -> dict[str, Any] | None:
    """The Secret that holds the key with this id, if any."""
    name = secret_name(access_key_id)
    return _read(namespace, name, client) if name is not None else None


def delete(namespace: str, name: str, client: Client) -> None:
    api.call(
        f"delete Secret {name} in namespace {namespace}", api.core(client).delete_namespaced_secret, name, namespace
    )
