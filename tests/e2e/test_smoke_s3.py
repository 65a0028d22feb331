"""Smoke: the S3 server is real — what boto3 writes, single-part or multipart, reads back byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from devstack.fixtures.s3 import S3Bucket
from redisbackup.storage.s3 import S3Settings, S3Store

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def test_an_object_written_with_boto3_reads_back_byte_identical(s3: S3Bucket) -> None:
    payload = os.urandom(3 * MiB + 17)
    client = s3.client()

    client.put_object(Bucket=s3.bucket, Key="snapshots/one.rdb", Body=payload)

    stored = client.get_object(Bucket=s3.bucket, Key="snapshots/one.rdb")
    assert stored["ContentLength"] == len(payload)
    assert stored["Body"].read() == payload
    assert s3.keys() == ["snapshots/one.rdb"]


def test_a_multipart_upload_reads_back_byte_identical(s3: S3Bucket) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 3)]  # S3's minimum part size is 5 MiB
    client = s3.client()
    upload = client.create_multipart_upload(Bucket=s3.bucket, Key="snapshots/big.rdb")

    etags = [
        client.upload_part(
            Bucket=s3.bucket, Key="snapshots/big.rdb", UploadId=upload["UploadId"], PartNumber=number, Body=part
        )["ETag"]
        for number, part in enumerate(parts, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=s3.bucket,
        Key="snapshots/big.rdb",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]},
    )

    stored = client.get_object(Bucket=s3.bucket, Key="snapshots/big.rdb")
    body = stored["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert len(body) == sum(len(part) for part in parts)
    assert stored["ETag"].strip('"').endswith("-3")  # S3's multipart ETag: <md5 of part md5s>-<part count>
    assert s3.uploads() == []


async def test_a_conditional_put_creates_an_object_once_on_the_real_server(s3: S3Bucket) -> None:
    """The manifest is written with If-None-Match: * — the server must refuse a second create, even a racing one."""
    store = S3Store(S3Settings(**s3.settings()))
    try:
        created = await asyncio.gather(*(store.put_if_absent("ns/snap/uid/manifest.json", b"%d" % n) for n in range(6)))
        assert sorted(created) == [False] * 5 + [True]
        assert await store.get_bytes("ns/snap/uid/manifest.json") == b"%d" % created.index(True)
        assert await store.put_if_absent("ns/snap/uid/manifest.json", b"later") is False
        assert await store.get_bytes("ns/snap/uid/manifest.json") == b"%d" % created.index(True)
    finally:
        await store.close()
