"""FileStore: snapshots in a local directory (the embedded default; a PersistentVolume in a cluster).

A writer streams into a hidden temporary file next to the target, then fsyncs it, renames it into place and
fsyncs the directory: after `commit()` the object survives a power cut, before it nothing is visible under its
key. File I/O runs in threads; small chunks are gathered into one buffer first so a thread hop carries a
megabyte, not a network packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import BinaryIO, TypeVar

from redisbackup.domain.faults import StorageFault
from redisbackup.storage.base import (
    ObjectNotFound,
    StorageAccessDenied,
    StorageUnavailable,
    StoredObject,
    WriterBase,
    check_key,
)

T = TypeVar("T")
TEMP_SUFFIX = ".part"
STAGING_SIZE = 4 << 20


def _fault(error: OSError, action: str, where: Path) -> StorageFault:
    if isinstance(error, PermissionError):
        return StorageAccessDenied(
            f"cannot {action} {where}: permission denied. Make the directory writable by the operator's user"
        )
    if isinstance(error, FileNotFoundError):
        return ObjectNotFound(f"cannot {action} {where}: it does not exist")
    if error.errno == errno.ENOSPC:
        return StorageUnavailable(f"cannot {action} {where}: the file system is full. Free space or grow the volume")
    return StorageUnavailable(f"cannot {action} {where}: {error.strerror or error}")


async def _io(action: str, where: Path, call: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(call)
    except OSError as error:
        raise _fault(error, action, where) from error


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def writer(self, key: str, *, expected_size: int | None = None) -> FileWriter:
        return FileWriter(self.path(key), key)

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        async with self.writer(key) as writer:
            await writer.write(data)
            return await writer.commit()

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        """Written to a temporary file, then hard-linked to its name: link(2) fails if the name exists, so of two
        writers exactly one succeeds, and a reader never sees a partial object."""
        path = self.path(key)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")

        def create() -> bool:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with temp.open("xb") as file:
                    _write_all(file, memoryview(data))
                    file.flush()
                    os.fsync(file.fileno())
                try:
                    os.link(temp, path)
                except FileExistsError:
                    return False
            finally:
                temp.unlink(missing_ok=True)
            _fsync_directory(path.parent)
            return True

        return await _io("store", path, create)

    async def get_bytes(self, key: str) -> bytes:
        path = self.path(key)
        return await _io("read", path, path.read_bytes)

    async def read(self, key: str, *, chunk_size: int = 8 << 20) -> AsyncIterator[bytes]:
        path = self.path(key)
        file = await _io("open", path, lambda: path.open("rb"))
        try:
            while chunk := await _io("read", path, functools.partial(file.read, chunk_size)):
                yield chunk
        finally:
            file.close()

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def list(self, prefix: str) -> list[StoredObject]:
        def walk() -> list[StoredObject]:
            found = []
            start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
            for directory, _, files in os.walk(start):
                for name in files:
                    if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                        continue
                    path = Path(directory, name)
                    key = path.relative_to(self.root).as_posix()
                    if key.startswith(prefix):
                        with contextlib.suppress(FileNotFoundError):
                            found.append(StoredObject(key, path.stat().st_size))
            return sorted(found, key=lambda o: o.key)

        return await _io("list", self.root / prefix, walk)

    async def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self.path(key)
            await _io("delete", path, functools.partial(path.unlink, missing_ok=True))
            await asyncio.to_thread(self._prune, path.parent)

    async def delete_prefix(self, prefix: str) -> int:
        objects = await self.list(prefix)
        await self.delete(o.key for o in objects)
        await self.abort_uploads(prefix)
        return len(objects)

    async def abort_uploads(self, prefix: str) -> int:
        """Remove temporary files under `prefix` left by a crashed process; return how many."""

        def remove() -> int:
            count = 0
            start = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
            for directory, _, files in os.walk(start):
                for name in files:
                    if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                        Path(directory, name).unlink(missing_ok=True)
                        count += 1
                self._prune(Path(directory))
            return count

        return await _io("clean up", self.root / prefix, remove)

    def _prune(self, directory: Path) -> None:
        """Remove now-empty directories up to (not including) the root."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    async def close(self) -> None:
        return None


class FileWriter(WriterBase):
    def __init__(self, path: Path, key: str) -> None:
        self.key = key
        self.path = path
        self._temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        self._file: BinaryIO | None = None
        self._staging = bytearray(STAGING_SIZE)
        self._fill = 0
        self._written = 0
        self._closed = False

    @property
    def bytes_written(self) -> int:
        return self._written

    async def _open(self) -> BinaryIO:
        if self._file is None:
            return await _io("create", self._temp, self._create)
        return self._file

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise RuntimeError(f"write to {self.path} after commit or abort")
        view = memoryview(data)
        while len(view):
            take = min(len(view), STAGING_SIZE - self._fill)
            self._staging[self._fill : self._fill + take] = view[:take]
            self._fill += take
            self._written += take
            view = view[take:]
            if self._fill == STAGING_SIZE:
                await self._flush()

    def write_from_thread(self, data: bytes | bytearray | memoryview, loop: asyncio.AbstractEventLoop) -> None:
        """Straight into the file: on a reader thread a chunk is already large and in cache, so staging would only
        add a copy, and a hop to another thread would only add a wait."""
        if self._closed:
            raise RuntimeError(f"write to {self.path} after commit or abort")
        view = memoryview(data)
        try:
            file = self._file or self._create()
        except OSError as error:
            raise _fault(error, "create", self._temp) from error
        try:
            if self._fill:
                _write_all(file, memoryview(self._staging)[: self._fill])
                self._fill = 0
            _write_all(file, view)
        except OSError as error:
            raise _fault(error, "write", self._temp) from error
        self._written += len(view)

    def _create(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self._temp.open("xb", buffering=0)
        return self._file

    async def _flush(self) -> None:
        file = await self._open()
        staged = memoryview(self._staging)[: self._fill]
        await _io("write", self._temp, lambda: _write_all(file, staged))
        self._fill = 0

    async def commit(self) -> StoredObject:
        if self.committed:
            return StoredObject(self.key, self._written)
        await self._flush()
        file = await self._open()

        def finish() -> None:
            os.fsync(file.fileno())
            file.close()
            self._temp.rename(self.path)
            _fsync_directory(self.path.parent)

        await _io("store", self.path, finish)
        self.committed = self._closed = True
        return StoredObject(self.key, self._written)

    async def abort(self) -> None:
        if self.committed:
            return
        self._closed = True
        file, self._file = self._file, None

        def discard() -> None:
            if file is not None:
                file.close()
            self._temp.unlink(missing_ok=True)

        await asyncio.shield(asyncio.to_thread(discard))


def _write_all(file: BinaryIO, data: memoryview) -> None:
    while len(data):
        written = file.write(data)
        data = data[written or 0 :]
