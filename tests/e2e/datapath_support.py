"""Shared steps of the data-path e2e tests: connection settings for a devstack node, stores, restore checks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack import redis_nodes
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.redis_nodes import RedisNode
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.domain.source import ConnectionSettings, NodeAddress, RedisCredentials, TlsSettings
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.file import FileStore
from redisbackup.storage.s3 import S3Settings, S3Store


def address(node: RedisNode) -> NodeAddress:
    return NodeAddress(node.host, node.port)


def connection(node: RedisNode, *, username: str | None = None, password: str | None = None) -> ConnectionSettings:
    """How a backup reaches `node`: its backup credentials (or the given ones) and its TLS CA."""
    credentials = RedisCredentials(username or node.username, password or node.password)
    tls = None
    if node.tls is not None:
        tls = TlsSettings(ca_file=str(node.tls.ca))
    return ConnectionSettings(credentials=credentials, tls=tls)


def new_location(name: str = "nightly") -> SnapshotLocation:
    return SnapshotLocation(namespace="e2e", snapshot_name=name, uid=os.urandom(8).hex())


@contextlib.contextmanager
def open_stores(kind: str, tmp_path: Path, s3: S3Bucket | None, **s3_options: object) -> Iterator[ObjectStore]:
    if kind == "file":
        yield FileStore(tmp_path / "store")
    else:
        assert s3 is not None
        yield S3Store(S3Settings(**{**s3.settings(prefix="backups"), **s3_options}))  # type: ignore[arg-type]


async def fetch(store: ObjectStore, key: str, destination: Path) -> Path:
    """Download an object to a file, streaming."""
    with destination.open("wb") as file:
        async for chunk in store.read(key):
            file.write(chunk)
    return destination


def write_random(client: redis.Redis, *, megabytes: int, value_size: int = 10_000, prefix: str = "blob") -> None:
    """Incompressible values, so the RDB is about as large as the data."""
    pipe = client.pipeline(transaction=False)
    for i in range(megabytes * (1 << 20) // value_size):
        pipe.set(f"{prefix}:{i}", os.urandom(value_size))
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()


async def assert_restores_to(
    store: ObjectStore, manifest: Manifest, node_id: str, source: redis.Redis, factory: RedisFactory, tmp_path: Path
) -> RedisNode:
    """Load the stored RDB of `node_id` into a fresh redis-server and compare every key with `source`."""
    record = next(n for n in manifest.node_snapshots if n.id == node_id)
    rdb = await fetch(store, record.object_key, tmp_path / f"restore-{node_id}.rdb")
    assert rdb.stat().st_size == record.size
    restored = factory.from_rdb(rdb)
    with restored.client() as client:
        expected = redis_nodes.dataset(source)
        assert expected, "the source had no data: the test proves nothing"
        assert redis_nodes.dataset(client) == expected
        assert redis_nodes.digest(client) == redis_nodes.digest(source)
    return restored


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """A FileStore in a temp directory, then an S3Store on the test's bucket (the test runs for both)."""
    s3 = request.getfixturevalue("s3") if request.param == "s3" else None
    with open_stores(request.param, tmp_path, s3, min_part_size=5 << 20) as opened:
        yield opened


def leftovers(store: ObjectStore, request: pytest.FixtureRequest) -> list[str]:
    """Everything in the store after a failed snapshot: objects, temp files and unfinished uploads."""
    if isinstance(store, FileStore):
        return sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    bucket: S3Bucket = request.getfixturevalue("s3")
    return bucket.keys() + [f"unfinished upload of {key}" for key in bucket.uploads()]
