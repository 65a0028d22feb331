"""S3Writer's multipart logic against a recording fake client: part sizes, bounded memory, abort on failure.

The same behaviour is tested against a real S3 server (SeaweedFS) in tests/e2e; the fake makes the concurrency
bound and the failure paths observable.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import botocore.exceptions
import pytest

from redisbackup.storage.base import StorageAccessDenied, StorageUnavailable
from redisbackup.storage.multipart import MIB
from redisbackup.storage.s3 import S3Settings, S3Store, S3Writer


class FakeS3:
    def __init__(self, *, fail_part: int | None = None, delay: float = 0.0, fail_code: str = "InternalError") -> None:
        self.calls: list[str] = []
        self.parts: dict[int, bytes] = {}
        self.objects: dict[str, bytes] = {}
        self.aborted: list[str] = []
        self.fail_part = fail_part
        self.fail_code = fail_code
        self.delay = delay
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def create_multipart_upload(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("create")
        return {"UploadId": "u-1"}

    def upload_part(self, *, PartNumber: int, Body: Any, **kw: Any) -> dict[str, Any]:  # noqa: N803
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            if PartNumber == self.fail_part:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": self.fail_code, "Message": "we broke"}}, "UploadPart"
                )
            self.parts[PartNumber] = bytes(Body)
            self.calls.append(f"part {PartNumber} {len(Body)}")
            return {"ETag": f'"etag-{PartNumber}"'}
        finally:
            with self._lock:
                self.active -= 1

    def complete_multipart_upload(self, *, Key: str, MultipartUpload: dict[str, Any], **kw: Any) -> None:  # noqa: N803
        numbers = [p["PartNumber"] for p in MultipartUpload["Parts"]]
        assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))
        self.objects[Key] = b"".join(self.parts[n] for n in numbers)
        self.calls.append("complete")

    def abort_multipart_upload(self, *, UploadId: str, **kw: Any) -> None:  # noqa: N803
        self.aborted.append(UploadId)
        self.calls.append("abort")

    def put_object(self, *, Key: str, Body: bytes, **kw: Any) -> None:  # noqa: N803
        self.objects[Key] = bytes(Body)
        self.calls.append("put")

    def close(self) -> None:
        pass


def store_with(fake: FakeS3, **settings: Any) -> S3Store:
    options = {"bucket": "b", "prefix": "backups/", "min_part_size": 5 * MIB, **settings}
    return S3Store(S3Settings(**options), client=fake)  # type: ignore[arg-type]


async def write_in_chunks(store: S3Store, key: str, data: bytes, *, expected: int | None = None) -> None:
    async with store.writer(key, expected_size=expected) as writer:
        for start in range(0, len(data), 1 << 20):
            await writer.write(memoryview(data)[start : start + (1 << 20)])
        await writer.commit()


async def test_a_small_object_is_one_put_and_no_multipart_upload() -> None:
    fake = FakeS3()
    await write_in_chunks(store_with(fake), "ns/a/u/node-0001.rdb", b"tiny rdb")
    assert fake.calls == ["put"]
    assert fake.objects == {"backups/ns/a/u/node-0001.rdb": b"tiny rdb"}


async def test_a_large_object_goes_up_in_equal_parts_and_comes_back_whole() -> None:
    fake = FakeS3()
    data = os.urandom(23 * MIB)
    await write_in_chunks(store_with(fake), "k", data)
    assert {number: len(body) for number, body in fake.parts.items()} == {1: 5 * MIB, 2: 5 * MIB, 3: 5 * MIB,
                                                                        4: 5 * MIB, 5: 3 * MIB}  # fmt: skip
    assert (fake.calls[0], fake.calls[-1]) == ("create", "complete")
    assert fake.objects["backups/k"] == data


async def write_from_a_thread(store: S3Store, key: str, data: bytes) -> None:
    """As a stream's reader thread writes: 256 KiB pieces copied on the thread, full parts shipped by the loop."""
    loop = asyncio.get_running_loop()
    async with store.writer(key) as writer:

        def pieces() -> None:
            for start in range(0, len(data), 256 << 10):
                writer.write_from_thread(memoryview(data)[start : start + (256 << 10)], loop)

        await asyncio.to_thread(pieces)
        await writer.commit()


async def test_a_reader_thread_fills_the_parts_and_the_loop_ships_them(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeS3(delay=0.02)
    data = os.urandom(23 * MIB)
    allocated_on: list[str] = []
    take_buffer = S3Writer._take_buffer

    def recording(self: S3Writer, size: int) -> bytearray:
        allocated_on.append(threading.current_thread().name)
        return take_buffer(self, size)

    monkeypatch.setattr(S3Writer, "_take_buffer", recording)
    await write_from_a_thread(store_with(fake, parts_in_flight=2), "k", data)
    # Parts come from the loop's thread (the main malloc arena), never from the reader's (a per-thread arena).
    assert allocated_on == [threading.current_thread().name] * 5
    assert [len(fake.parts[n]) for n in sorted(fake.parts)] == [5 * MIB] * 4 + [3 * MIB]
    assert fake.most_active <= 2
    assert fake.objects["backups/k"] == data


async def test_a_part_failing_under_a_reader_thread_raises_there_and_aborts_the_upload() -> None:
    fake = FakeS3(fail_part=1, delay=0.02)
    with pytest.raises(StorageUnavailable, match=r"s3://b/backups/k .*InternalError"):
        await write_from_a_thread(store_with(fake, parts_in_flight=1), "k", os.urandom(12 * MIB))
    assert fake.aborted == ["u-1"]
    assert "complete" not in fake.calls


async def test_no_more_than_parts_in_flight_uploads_run_at_once() -> None:
    fake = FakeS3(delay=0.05)
    await write_in_chunks(store_with(fake, parts_in_flight=2), "k", os.urandom(40 * MIB))
    assert fake.most_active == 2


async def test_a_failed_part_aborts_the_upload_and_raises_a_storage_fault() -> None:
    fake = FakeS3(fail_part=3)
    with pytest.raises(StorageUnavailable, match=r"s3://b/backups/k .*InternalError"):
        await write_in_chunks(store_with(fake), "k", os.urandom(30 * MIB))
    assert fake.aborted == ["u-1"]
    assert "complete" not in fake.calls


async def test_access_denied_is_not_retried_and_says_what_to_check() -> None:
    fake = FakeS3(fail_part=1, fail_code="AccessDenied")
    with pytest.raises(StorageAccessDenied, match="check the access key") as caught:
        await write_in_chunks(store_with(fake), "k", os.urandom(12 * MIB))
    assert caught.value.transient is False
    assert fake.aborted == ["u-1"]


async def test_an_error_upstream_aborts_after_the_parts_in_flight_have_landed() -> None:
    fake = FakeS3(delay=0.05)
    store = store_with(fake)

    async def write_then_fail() -> None:
        async with store.writer("k") as writer:
            await writer.write(os.urandom(12 * MIB))
            raise ValueError("CRC mismatch")

    with pytest.raises(ValueError, match="CRC"):
        await write_then_fail()
    assert fake.calls[-1] == "abort"
    assert fake.active == 0


async def test_a_cancelled_writer_still_aborts_its_upload() -> None:
    fake = FakeS3(delay=0.2)
    store = store_with(fake)

    async def endless() -> None:
        async with store.writer("k") as writer:
            while True:
                await writer.write(os.urandom(1 * MIB))

    task = asyncio.create_task(endless())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.aborted == ["u-1"]
    assert "complete" not in fake.calls
