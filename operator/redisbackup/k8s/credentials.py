"""How to reach the Redis nodes of a RedisBackup: the password and TLS material from the Secrets its spec names.

Only the Secrets the spec references are read, each with a `get` (the operator never lists Secrets). A missing
Secret or key is awaited like a missing source (GitOps may create it a moment later). A Secret the operator may
not read, or whose value is not text, fails the snapshot at once, saying which Secret and what to change: waiting
cannot help. A client certificate is written to a private temporary directory for the duration of the snapshot:
Python's ssl module loads a certificate chain from files only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from redisbackup.domain.faults import ValidationFault
from redisbackup.domain.resolution import SecretNotFound
from redisbackup.domain.source import ConnectionSettings, RedisCredentials, TlsSettings
from redisbackup.k8s import api
from redisbackup.k8s.api import Client
from redisbackup.k8s.faults import AccessDenied


class SecretAccessDenied(AccessDenied):
    """The operator may not read a Secret the spec names (RBAC): it fails the snapshot, naming what to change."""


class SecretValueInvalid(ValidationFault):
    """A Secret's value is not what the field needs (UTF-8 text: a password, PEM): the Secret must be corrected."""


def _read_secret(namespace: str, name: str, field: str, client: Client | None) -> dict[str, Any] | None:
    read = api.core(client).read_namespaced_secret
    try:
        return api.call_or_none(f"read Secret {name} in namespace {namespace}", read, name, namespace)
    except AccessDenied as denied:
        raise SecretAccessDenied(
            f'{field}: the operator may not read Secret "{name}" in namespace {namespace} ({denied.message}). With '
            f"the Helm chart, add {namespace} to the value rbac.secretNamespaces (or leave rbac.secretNamespaces "
            "empty: every watched namespace); otherwise grant the operator's ServiceAccount `get` on secrets in "
            f"{namespace}. Then create the RedisBackup again",
            field=field,
        ) from denied


def _decoded(value: str, *, key: str, name: str, namespace: str, field: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise SecretValueInvalid(
            f'{field}: key {key} of Secret "{name}" in namespace {namespace} is not UTF-8 text ({error}); a Redis '
            "password and PEM certificates and keys are text. Correct the Secret, then create the RedisBackup again",
            field=field,
        ) from None


async def secret_data(
    namespace: str, name: str, keys: tuple[str, ...], *, field: str, client: Client | None = None
) -> dict[str, str]:
    """The decoded values of `keys` in Secret `name`; SecretNotFound names the field that refers to it."""
    secret = await api.in_thread(_read_secret, namespace, name, field, client)
    if secret is None:
        raise SecretNotFound(
            f'{field}: Secret "{name}" does not exist in namespace {namespace}. Create it (or correct the name); '
            "the snapshot waits for it until the source deadline passes",
            field=field,
        )
    data = secret.get("data") or {}
    missing = [key for key in keys if key not in data]
    if missing:
        present = ", ".join(sorted(data)) or "none"
        raise SecretNotFound(
            f'{field}: Secret "{name}" in namespace {namespace} has no key {", ".join(missing)} (its keys: '
            f"{present}). Add the key or correct {field}; the snapshot waits until the source deadline passes",
            field=field,
        )
    return {key: _decoded(data[key], key=key, name=name, namespace=namespace, field=field) for key in keys}


@contextlib.asynccontextmanager
async def redis_connection(
    namespace: str, spec: Mapping[str, Any], client: Client | None = None
) -> AsyncIterator[ConnectionSettings]:
    """ConnectionSettings for spec.auth and spec.tls, valid inside the block (client certificate files)."""
    credentials = RedisCredentials()
    auth = spec.get("auth")
    if auth:
        ref = auth["secretRef"]
        values = await secret_data(namespace, ref["name"], (ref["key"],), field="spec.auth.secretRef", client=client)
        credentials = RedisCredentials(username=auth.get("username"), password=values[ref["key"]])
    tls_spec = spec.get("tls")
    if not tls_spec or not tls_spec.get("enabled", True):
        yield ConnectionSettings(credentials=credentials)
        return
    ca_data = None
    if ca_ref := tls_spec.get("caSecretRef"):
        field = "spec.tls.caSecretRef"
        ca_data = (await secret_data(namespace, ca_ref["name"], (ca_ref["key"],), field=field, client=client))[
            ca_ref["key"]
        ]
    with tempfile.TemporaryDirectory(prefix="redisbackup-tls-") as directory:
        cert_file = key_file = None
        if cert_ref := tls_spec.get("certSecretRef"):
            pair = await secret_data(
                namespace, cert_ref["name"], ("tls.crt", "tls.key"), field="spec.tls.certSecretRef", client=client
            )
            cert_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
            for path, key in ((cert_file, "tls.crt"), (key_file, "tls.key")):
                path.touch(mode=0o600)
                path.write_text(pair[key])
        tls = TlsSettings(
            ca_data=ca_data,
            cert_file=str(cert_file) if cert_file else None,
            key_file=str(key_file) if key_file else None,
            server_name=tls_spec.get("serverName"),
        )
        yield ConnectionSettings(credentials=credentials, tls=tls)
