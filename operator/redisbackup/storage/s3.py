"""S3Store: snapshots in an S3 bucket (AWS or any S3-compatible server), streamed with multipart uploads.

boto3 is synchronous, so every call runs in the store's own small thread pool and the event loop never blocks.
A writer copies incoming chunks into a part buffer; a full part is uploaded in a thread while the next one fills,
and at most `parts_in_flight` uploads run at once — when they are all busy, `write()` waits, which propagates
back-pressure to the Redis connection. Memory per writer: (parts_in_flight + 1) x part size.

Any failure — a part upload, a CRC mismatch upstream, a cancelled task — aborts the multipart upload, so no
incomplete upload is left to cost money or confuse a listing. Objects that fit in one part use a single PUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import boto3
import botocore.config
import botocore.exceptions

from redisbackup.domain.faults import StorageFault
from redisbackup.storage.base import (
    ObjectNotFound,
    StorageAccessDenied,
    StorageLocationNotFound,
    StorageUnavailable,
    StoredObject,
    WriterBase,
    check_key,
)
from redisbackup.storage.multipart import (
    DEFAULT_MIN_PART,
    FLAT_PARTS,
    S3_MAX_PART,
    base_part_size,
    part_size,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
T = TypeVar("T")

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "Forbidden", "403"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
COPY_PART = 512 << 20  # server-side copy parts above 5 GiB: few calls, each well under S3's 5 GiB part limit
# S3 look-alikes (SeaweedFS, MinIO) answer a CopyObject or UploadPartCopy only once its bytes are copied (AWS sends
# whitespace meanwhile): SeaweedFS copies 1 GiB in 5-13 s on a loaded 2-core machine, so a 5 GiB call can outlast the
# usual read timeout, and botocore would then start the whole copy again. Copy calls get this much at least.
COPY_READ_TIMEOUT = 900.0


@dataclass(frozen=True)
class S3Settings:
    """Where and how to store. Unset credentials/region fall back to boto3's chain (env, profile, IRSA…)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None  # for S3-compatible servers (MinIO, SeaweedFS, Ceph…)
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    addressing_style: Literal["auto", "path", "virtual"] | None = None  # default: path with endpoint_url
    verify: bool | str = True  # or a CA bundle path
    # SigV4 can cover the body with a SHA-256 of each part: a second full pass over the data, and what botocore
    # does when no checksum header is sent. Off by default: TLS protects the body in transit, and the RDB's own
    # CRC-64 and SHA-256 (in the manifest) are checked on every restore and verify.
    sign_payload: bool = False
    min_part_size: int = DEFAULT_MIN_PART
    parts_in_flight: int = 2
    max_threads: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")


def make_client(settings: S3Settings) -> S3Client:
    config = botocore.config.Config(
        # S3 look-alikes reject or mishandle the CRC32 trailers newer botocore adds by default.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_threads + 2,
        s3={
            "addressing_style": settings.addressing_style or ("path" if settings.endpoint_url else "auto"),
            "payload_signing_enabled": settings.sign_payload,
        },
    )
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
    )
    return session.client("s3", endpoint_url=settings.endpoint_url, config=config, verify=settings.verify)


def storage_fault(error: Exception, action: str, where: str) -> StorageFault:
    """Map a botocore error onto a fault that says what failed where, and what to check."""
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return StorageAccessDenied(
            f"no S3 credentials to {action} {where}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the storage "
            "location's credentials secret, or an IAM role for the service account)"
        )
    if isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        message = error.response.get("Error", {}).get("Message") or code
        if code in _DENIED:
            return StorageAccessDenied(
                f"S3 denied {action} {where} ({code}: {message}): check the access key, secret and the bucket policy"
            )
        if code == "NoSuchBucket":
            return StorageLocationNotFound(
                f"cannot {action} {where}: the bucket does not exist. Create it, or fix the storage location"
            )
        if code in _MISSING:
            return ObjectNotFound(f"cannot {action} {where}: no such object")
        return StorageUnavailable(f"S3 failed to {action} {where} ({code}: {message}); it will be retried")
    return StorageUnavailable(
        f"cannot reach S3 to {action} {where}: {error}. Check the endpoint URL and the network; it will be retried"
    )


class S3Store:
    def __init__(self, settings: S3Settings, *, client: S3Client | None = None) -> None:
        self.settings = settings
        self.client = client or make_client(settings)
        # Server-side copies run on a client of their own, with COPY_READ_TIMEOUT (made on the first copy).
        self._copy_client: S3Client | None = client
        self._prefix = settings.prefix.strip("/")
        self._executor = ThreadPoolExecutor(max_workers=settings.max_threads, thread_name_prefix="s3")

    @property
    def url(self) -> str:
        return self.settings.url

    def full_key(self, key: str) -> str:
        check_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    def _relative(self, full_key: str) -> str:
        return full_key[len(self._prefix) + 1 :] if self._prefix else full_key

    def where(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{self.full_key(key)}"

    async def run(self, action: str, where: str, call: Callable[..., T], /, **kwargs: Any) -> T:
        """Run one boto3 call in the pool; botocore errors become storage faults."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(call, **kwargs))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise storage_fault(error, action, where) from error

    def writer(self, key: str, *, expected_size: int | None = None) -> S3Writer:
        return S3Writer(self, key, expected_size)

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        await self.run(
            "write",
            self.where(key),
            self.client.put_object,
            Bucket=self.settings.bucket,
            Key=self.full_key(key),
            Body=data,
        )
        return StoredObject(key, len(data))

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        """PutObject with `If-None-Match: *` (S3's conditional write): 412 when the key exists. A server that
        answers 409 (a concurrent conditional write to the key) is asked again after the other write settled."""

        def put() -> bool:
            for _attempt in range(5):
                try:
                    self.client.put_object(
                        Bucket=self.settings.bucket, Key=self.full_key(key), Body=data, IfNoneMatch="*"
                    )
                except botocore.exceptions.ClientError as error:
                    code = str(error.response.get("Error", {}).get("Code", ""))
                    if code in ("PreconditionFailed", "412"):
                        return False
                    if code not in ("ConditionalRequestConflict", "409"):
                        raise
                    time.sleep(0.2)
                    continue
                return True
            raise StorageUnavailable(f"S3 kept answering 409 (a concurrent write) to creating {self.where(key)}")

        return await self.run("write", self.where(key), put)

    async def get_bytes(self, key: str) -> bytes:
        response = await self.run(
            "read", self.where(key), self.client.get_object, Bucket=self.settings.bucket, Key=self.full_key(key)
        )
        body = response["Body"]
        try:
            return await self.run("read", self.where(key), body.read)
        finally:
            body.close()

    async def read(self, key: str, *, chunk_size: int = 8 << 20) -> AsyncIterator[bytes]:
        response = await self.run(
            "read", self.where(key), self.client.get_object, Bucket=self.settings.bucket, Key=self.full_key(key)
        )
        body = response["Body"]
        try:
            while chunk := await self.run("read", self.where(key), body.read, amt=chunk_size):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        try:
            await self.run(
                "look up", self.where(key), self.client.head_object, Bucket=self.settings.bucket, Key=self.full_key(key)
            )
        except ObjectNotFound:
            return False
        return True

    async def list(self, prefix: str) -> list[StoredObject]:
        full_prefix = self.full_key(prefix) if prefix else (f"{self._prefix}/" if self._prefix else "")

        def list_all() -> list[StoredObject]:
            found = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    found.append(StoredObject(self._relative(item["Key"]), item["Size"]))
            return sorted(found, key=lambda o: o.key)

        return await self.run("list", f"s3://{self.settings.bucket}/{full_prefix}", list_all)

    async def delete(self, keys: Iterable[str]) -> None:
        full_keys = [self.full_key(k) for k in keys]
        for start in range(0, len(full_keys), 1000):
            batch = [{"Key": k} for k in full_keys[start : start + 1000]]
            response = await self.run(
                "delete",
                f"s3://{self.settings.bucket}/{batch[0]['Key']}…",
                self.client.delete_objects,
                Bucket=self.settings.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageUnavailable(
                    f"S3 did not delete {len(errors)} object(s), e.g. {first.get('Key')}: {first.get('Code')} "
                    f"{first.get('Message')}; it will be retried"
                )

    async def delete_prefix(self, prefix: str) -> int:
        objects = await self.list(prefix)
        await self.delete(o.key for o in objects)
        await self.abort_uploads(prefix)
        return len(objects)

    async def abort_uploads(self, prefix: str) -> int:
        """Abort unfinished multipart uploads under `prefix` (left by a crashed process); return how many."""
        full_prefix = self.full_key(prefix)

        def abort_all() -> int:
            count = 0
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=full_prefix):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.settings.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    count += 1
            return count

        return await self.run("clean up uploads under", f"s3://{self.settings.bucket}/{full_prefix}", abort_all)

    # ------------------------------------------------------------------------------------ server-side copies
    def copies_from(self, source: object) -> bool:
        """Whether an object of `source` can be copied into this store by S3 itself (CopyObject/UploadPartCopy):
        both on one endpoint and region. Whether this store's keys may read the source bucket shows on the call."""
        return isinstance(source, S3Store) and (source.settings.endpoint_url, source.settings.region) == (
            self.settings.endpoint_url,
            self.settings.region,
        )

    @property
    def copy_client(self) -> S3Client:
        if self._copy_client is None:
            timeout = max(self.settings.read_timeout, COPY_READ_TIMEOUT)
            self._copy_client = make_client(replace(self.settings, read_timeout=timeout))
        return self._copy_client

    async def copy_from(self, source: S3Store, source_key: str, key: str, size: int) -> StoredObject:
        """Copy `source_key` of `source` to `key` inside S3: no byte passes through this process. CopyObject up to
        5 GiB; above, a multipart upload of UploadPartCopy ranges (in this store's threads), aborted on failure."""
        copy_source = {"Bucket": source.settings.bucket, "Key": source.full_key(source_key)}
        where = f"{self.where(key)} (from {source.where(source_key)})"
        if size <= S3_MAX_PART:
            await self.run(
                "copy",
                where,
                self.copy_client.copy_object,
                Bucket=self.settings.bucket,
                Key=self.full_key(key),
                CopySource=copy_source,
            )
            return StoredObject(key, size)
        created = await self.run(
            "start copying",
            where,
            self.client.create_multipart_upload,
            Bucket=self.settings.bucket,
            Key=self.full_key(key),
        )
        upload_id = created["UploadId"]
        step = max(COPY_PART, -(-size // FLAT_PARTS))

        async def part(number: int, start: int) -> dict[str, Any]:
            end = min(size, start + step) - 1
            response = await self.run(
                "copy a part of",
                where,
                self.copy_client.upload_part_copy,
                Bucket=self.settings.bucket,
                Key=self.full_key(key),
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={start}-{end}",
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        try:
            parts = await asyncio.gather(*(part(i + 1, start) for i, start in enumerate(range(0, size, step))))
            await self.run(
                "complete the copy of",
                where,
                self.client.complete_multipart_upload,
                Bucket=self.settings.bucket,
                Key=self.full_key(key),
                UploadId=upload_id,
                MultipartUpload={"Parts": list(parts)},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self.run(
                        "abort the copy of",
                        where,
                        self.client.abort_multipart_upload,
                        Bucket=self.settings.bucket,
                        Key=self.full_key(key),
                        UploadId=upload_id,
                    )
                )
            raise
        return StoredObject(key, size)

    async def read_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        """`length` bytes of `key` from `start` (a negative start counts from the end), and the object's size."""
        wanted = f"bytes=-{length}" if start < 0 else f"bytes={start}-{start + length - 1}"
        response = await self.run(
            "read",
            self.where(key),
            self.client.get_object,
            Bucket=self.settings.bucket,
            Key=self.full_key(key),
            Range=wanted,
        )
        body = response["Body"]
        try:
            data: bytes = await self.run("read", self.where(key), body.read)
        finally:
            body.close()
        total = int(str(response.get("ContentRange", "")).rpartition("/")[2] or response["ContentLength"])
        return data, total

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()
        if self._copy_client is not None and self._copy_client is not self.client:
            self._copy_client.close()


class S3Writer(WriterBase):
    def __init__(self, store: S3Store, key: str, expected_size: int | None) -> None:
        self.key = key
        self._store = store
        self._bucket = store.settings.bucket
        self._full_key = store.full_key(key)
        self._where = store.where(key)
        self._base = base_part_size(expected_size, minimum=store.settings.min_part_size)
        self._next_part = 1
        self._buffer: bytearray | None = None
        self._fill = 0
        self._spare: list[bytearray] = []
        self._upload_id: str | None = None
        self._in_flight: set[asyncio.Future[dict[str, Any]]] = set()
        self._parts: list[dict[str, Any]] = []
        self._written = 0
        self._closed = False

    @property
    def bytes_written(self) -> int:
        return self._written

    @property
    def part_size(self) -> int:
        return self._base

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = self._writable(data)
        while len(view):
            view, full = self._copy_in(view)
            if full:
                await self._ship_part()

    def write_from_thread(self, data: bytes | bytearray | memoryview, loop: asyncio.AbstractEventLoop) -> None:
        """The copy into the part runs on the calling thread; the loop allocates each part's buffer and ships it
        when full. Allocated on the loop's thread, a part comes from the main malloc arena and goes back to the
        system when freed: allocated on each reader thread, parts spread over glibc's per-thread arenas, which
        keep them (the operator bench: 290 MB peak with parts from reader threads, 190 MB without)."""
        view = self._writable(data)
        while len(view):
            if self._buffer is None:
                asyncio.run_coroutine_threadsafe(self._open_part(), loop).result()
            view, full = self._copy_in(view)
            if full:
                asyncio.run_coroutine_threadsafe(self._ship_part(), loop).result()

    async def _open_part(self) -> None:
        self._start_part()

    def _start_part(self) -> None:
        if self._buffer is None:
            self._buffer = self._take_buffer(part_size(self._next_part, self._base))
            self._fill = 0

    def _writable(self, data: bytes | bytearray | memoryview) -> memoryview:
        if self._closed:
            raise RuntimeError(f"write to {self._where} after commit or abort")
        return memoryview(data)

    def _copy_in(self, view: memoryview) -> tuple[memoryview, bool]:
        """Copy what fits of `view` into the part being filled: the rest, and whether the part is full."""
        self._start_part()
        assert self._buffer is not None
        take = min(len(view), len(self._buffer) - self._fill)
        self._buffer[self._fill : self._fill + take] = view[:take]
        self._fill += take
        self._written += take
        return view[take:], self._fill == len(self._buffer)

    def _take_buffer(self, size: int) -> bytearray:
        while self._spare:
            buffer = self._spare.pop()
            if len(buffer) == size:
                return buffer
        return bytearray(size)

    async def _ship_part(self) -> None:
        """Upload the current buffer as the next part in a thread; wait first if enough parts are in flight."""
        assert self._buffer is not None
        if self._upload_id is None:
            created = await self._store.run(
                "start uploading",
                self._where,
                self._store.client.create_multipart_upload,
                Bucket=self._bucket,
                Key=self._full_key,
            )
            self._upload_id = created["UploadId"]
        while len(self._in_flight) >= self._store.settings.parts_in_flight:
            await self._settle(asyncio.FIRST_COMPLETED)
        number, buffer, size = self._next_part, self._buffer, self._fill
        self._buffer, self._fill, self._next_part = None, 0, number + 1
        upload = asyncio.ensure_future(
            self._store.run("upload a part of", self._where, self._upload_part, number=number, buffer=buffer, size=size)
        )
        self._in_flight.add(upload)

    def _upload_part(self, number: int, buffer: bytearray, size: int) -> dict[str, Any]:
        # botocore takes a bytearray as it is (its stubs say bytes): no copy of a full part.
        body = cast(bytes, buffer) if size == len(buffer) else bytes(memoryview(buffer)[:size])
        response = self._store.client.upload_part(
            Bucket=self._bucket, Key=self._full_key, UploadId=self._upload_id or "", PartNumber=number, Body=body
        )
        if size == len(buffer):
            self._spare.append(buffer)  # reused for a later part (list.append is atomic under the GIL)
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def _settle(self, when: str) -> None:
        """Wait for uploads in flight (the first, or all) and collect their parts; re-raise the first failure."""
        done, self._in_flight = await asyncio.wait(self._in_flight, return_when=when)
        for upload in done:
            self._parts.append(upload.result())

    async def commit(self) -> StoredObject:
        if self.committed:
            return StoredObject(self.key, self._written)
        if self._upload_id is None:
            body = bytes(memoryview(self._buffer)[: self._fill]) if self._buffer is not None else b""
            await self._store.run(
                "write", self._where, self._store.client.put_object, Bucket=self._bucket, Key=self._full_key, Body=body
            )
        else:
            if self._fill:
                await self._ship_part()
            while self._in_flight:
                await self._settle(asyncio.ALL_COMPLETED)
            await self._store.run(
                "complete the upload of",
                self._where,
                self._store.client.complete_multipart_upload,
                Bucket=self._bucket,
                Key=self._full_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": sorted(self._parts, key=lambda p: p["PartNumber"])},
            )
        self.committed = self._closed = True
        self._release()
        return StoredObject(self.key, self._written)

    async def abort(self) -> None:
        if self.committed:
            return
        self._closed = True
        # Shielded: a second cancellation must not leave an upload behind half-aborted.
        await asyncio.shield(self._abort())

    async def _abort(self) -> None:
        if self._in_flight:  # threads cannot be interrupted; let them finish so no part lands after the abort
            await asyncio.wait(self._in_flight)
            self._in_flight = set()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            try:
                await self._store.run(
                    "abort the upload of",
                    self._where,
                    self._store.client.abort_multipart_upload,
                    Bucket=self._bucket,
                    Key=self._full_key,
                    UploadId=upload_id,
                )
            except StorageFault as fault:
                log.warning("could not abort multipart upload %s of %s: %s", upload_id, self._where, fault)
        self._release()

    def _release(self) -> None:
        self._buffer = None
        self._spare.clear()
