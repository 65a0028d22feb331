"""The Query API's handler on a loopback port, with access keys and the core's answers stubbed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from aiohttp.test_utils import TestServer
from botocore.config import Config

from redisbackup.k8s.access_keys import AccessKey
from redisbackup.k8s.identity import ClientCache
from redisbackup.queryapi.authentication import Authenticator
from redisbackup.queryapi.handler import QueryApi
from redisbackup.web.app import init_app

KEY = AccessKey("RBKTESTKEY0000000001", "s3cr3t/with+chars", "system:serviceaccount:team-a:bot", "team-a")
REGION = "us-east-1"


@dataclass
class StubKeys:
    """AccessKeys with fixed keys instead of Secrets; counts lookups."""

    keys: dict[str, AccessKey] = field(default_factory=lambda: {KEY.access_key_id: KEY})
    lookups: int = 0

    def lookup(self, access_key_id: str) -> AccessKey | None:
        self.lookups += 1
        return self.keys.get(access_key_id)


class NoClients(ClientCache):
    """Hands out a marker instead of a Kubernetes client: the stubbed actions never call the apiserver."""

    def get(self, key: str, make: Any) -> Any:
        return f"client for {key}"


def make_api(**overrides: Any) -> QueryApi:
    authenticator = Authenticator(StubKeys(), REGION, clients=NoClients())  # type: ignore[arg-type]
    return QueryApi(authenticator, **overrides)


@contextlib.asynccontextmanager
async def serving(api: QueryApi) -> AsyncIterator[str]:
    server = TestServer(init_app(api), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


def elasticache(url: str, *, key: AccessKey = KEY, secret: str | None = None, token: str | None = None) -> Any:
    return boto3.client(
        "elasticache",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=secret if secret is not None else key.secret_access_key,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
