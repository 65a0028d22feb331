"""Smoke: the S3 server is real — what boto3 writes, single-part or multipart, reads back byte for byte."""

from __future__ import annotations

import hashlib
import os

import pytest

from devstack.fixtures.s3 import S3Bucket

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
