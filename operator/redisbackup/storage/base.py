"""The ObjectStore protocol every storage backend implements, and the faults they raise.

Writes stream: `async with store.writer(key, expected_size=…) as w: await w.write(chunk) …; await w.commit()`.
Nothing is visible under `key` until `commit()` returns; leaving the block without committing (an exception, a
cancelled task, a failed CRC check) aborts the write and leaves nothing behind — no object, no temp file, no
incomplete multipart upload. `put_if_absent` creates a small object only if none is there (the commit record).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import StorageFault


class StorageUnavailable(StorageFault):
    code = FaultCode.STORAGE_UNAVAILABLE
    transient = True


class StorageAccessDenied(StorageFault):
    code = FaultCode.STORAGE_ACCESS_DENIED
    transient = False


class StorageLocationNotFound(StorageFault):
    code = FaultCode.STORAGE_LOCATION_NOT_FOUND
    transient = False


class ObjectNotFound(StorageFault):
    """A key that should exist does not (a snapshot deleted behind our back, or never committed)."""

    code = FaultCode.SNAPSHOT_NOT_FOUND
    transient = False


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


@runtime_checkable
class ObjectWriter(Protocol):
    key: str

    @property
    def bytes_written(self) -> int: ...

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Take `data` (a view the caller may reuse as soon as this returns)."""

    def write_from_thread(self, data: bytes | bytearray | memoryview, loop: asyncio.AbstractEventLoop) -> None:
        """`write`, called from a thread other than `loop`'s (a stream's reader thread), blocking until `data` is
        taken. A writer uses either this or `write`, never both at once; commit and abort stay on the loop."""

    async def commit(self) -> StoredObject:
        """Make the object visible under its key, durably. After this, abort() does nothing."""

    async def abort(self) -> None:
        """Discard everything written; idempotent, and safe after a failed write or commit."""

    async def __aenter__(self) -> ObjectWriter: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class ObjectStore(Protocol):
    @property
    def url(self) -> str:
        """Where the store is (file:///dir, s3://bucket/prefix): for messages and status.location."""

    def writer(self, key: str, *, expected_size: int | None = None) -> ObjectWriter:
        """A streaming writer; `expected_size` (a hint, may be wrong or None) sizes S3 multipart parts."""

    async def put_bytes(self, key: str, data: bytes) -> StoredObject: ...

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        """Store `data` under `key` only if no object is there, atomically: of two writers, exactly one gets True.
        False: an object was already there, and it is unchanged. (A snapshot's manifest is written this way: the
        one commit record of the snapshot, which no later attempt can overwrite.)"""

    async def get_bytes(self, key: str) -> bytes:
        """The whole object (for small ones: manifests); raises ObjectNotFound."""

    def read(self, key: str, *, chunk_size: int = 8 << 20) -> AsyncIterator[bytes]:
        """The object in chunks, without holding it all; raises ObjectNotFound."""

    async def exists(self, key: str) -> bool: ...

    async def list(self, prefix: str) -> list[StoredObject]:
        """Committed objects whose key starts with `prefix`, sorted by key."""

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete these keys; missing keys are not an error."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`, and any unfinished upload there; return how many objects."""

    async def abort_uploads(self, prefix: str) -> int:
        """Discard unfinished uploads under `prefix` (left by a crashed process); return how many."""

    async def close(self) -> None: ...


class WriterBase:
    """The context-manager half of ObjectWriter: leaving without commit() aborts."""

    committed = False

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def write_from_thread(self, data: bytes | bytearray | memoryview, loop: asyncio.AbstractEventLoop) -> None:
        """By default the loop runs `write` and this thread waits for it (a writer whose copy is cheap in a
        thread overrides this, and hands the loop only what needs it)."""
        asyncio.run_coroutine_threadsafe(self.write(data), loop).result()

    async def commit(self) -> StoredObject:
        raise NotImplementedError

    async def abort(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.committed:
            await self.abort()


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated, without empty, '.' or '..' parts (they must not escape a directory)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise ValueError(f"invalid object key {key!r}")
    return key
