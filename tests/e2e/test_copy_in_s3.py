"""copy-snapshot inside one S3 endpoint: S3 copies the objects (CopyObject, UploadPartCopy), the operator reads none
of their bytes, and the copy is checked against the source's manifest (size, signature, CRC-64 trailer)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import anycrc
import pytest

from devstack.fixtures.s3 import S3Bucket
from redisbackup.domain.layout import SnapshotLocation
from redisbackup.domain.manifest import Manifest
from redisbackup.storage import s3 as s3_module
from redisbackup.storage.s3 import S3Settings, S3Store
from redisbackup.workflows.copy import copy_snapshot
from redisbackup.workflows.restore import StoredObjectCorrupt
from tests.unit.restore.support import KEY, manifest, record

pytestmark = pytest.mark.e2e
MIB = 1 << 20


def rdb(size: int) -> bytes:
    body = b"REDIS0010" + os.urandom(size - 18) + b"\xff"  # version 10: what support.record() states
    return body + anycrc.Model("CRC64-REDIS").calc(body).to_bytes(8, "little")


def store(s3: S3Bucket, prefix: str) -> S3Store:
    return S3Store(S3Settings(**{**s3.settings(prefix=prefix), "min_part_size": 5 * MIB}))  # type: ignore[arg-type]


async def stored_snapshot(source: S3Store, data: bytes) -> Manifest:
    async with source.writer(KEY, expected_size=len(data)) as writer:
        await writer.write(data)
        await writer.commit()
    return manifest(record(data))


def no_streaming(source: S3Store) -> None:
    async def refuse(key: str, *, chunk_size: int = 0) -> AsyncIterator[bytes]:
        raise AssertionError(f"{key} was streamed through the operator")
        yield b""  # pragma: no cover

    source.read = refuse  # type: ignore[method-assign]


@pytest.mark.parametrize("multipart", [False, True], ids=["CopyObject", "UploadPartCopy"])
def test_a_copy_within_one_endpoint_is_made_by_s3_and_is_byte_identical(
    s3: S3Bucket, multipart: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if multipart:  # the >5 GiB path, with parts S3 still accepts (5 MiB)
        monkeypatch.setattr(s3_module, "S3_MAX_PART", 5 * MIB)
        monkeypatch.setattr(s3_module, "COPY_PART", 5 * MIB)
    data = rdb(12 * MIB + 123)

    async def scenario() -> Manifest:
        source, target = store(s3, "team"), store(s3, "archive")  # two locations, one bucket and endpoint
        try:
            original = await stored_snapshot(source, data)
            no_streaming(source)
            return await copy_snapshot(source, original, target, SnapshotLocation("team", "copy", "uid-2"))
        finally:
            await source.close()
            await target.close()

    copied = asyncio.run(scenario())
    key = copied.node_snapshots[0].object_key
    body = s3.client().get_object(Bucket=s3.bucket, Key=f"archive/{key}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == copied.node_snapshots[0].sha256 == hashlib.sha256(data).hexdigest()
    assert f"archive/{SnapshotLocation('team', 'copy', 'uid-2').manifest_key}" in s3.keys("archive/")
    assert s3.uploads() == []


def test_a_source_replaced_after_its_snapshot_is_refused_and_nothing_is_left(s3: S3Bucket) -> None:
    data = rdb(6 * MIB)
    location = SnapshotLocation("team", "copy", "uid-3")

    async def scenario() -> Any:
        source, target = store(s3, "team"), store(s3, "archive")
        try:
            original = await stored_snapshot(source, data)
            tampered = data[:-8] + bytes(8 - 1) + b"\x01"  # same size, another CRC-64 trailer
            await source.put_bytes(KEY, tampered)
            no_streaming(source)
            with pytest.raises(StoredObjectCorrupt, match="CRC-64 trailer"):
                await copy_snapshot(source, original, target, location)
        finally:
            await source.close()
            await target.close()

    asyncio.run(scenario())
    assert s3.keys(f"archive/{location.directory}") == []
