"""MemoryStore: an ObjectStore in a dict, for unit tests only (like httpx's MockTransport).

It keeps whole objects in memory, so it must never serve a real snapshot. It can be told to fail a write after
some bytes, to exercise abort paths without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from redisbackup.storage.base import ObjectNotFound, StorageUnavailable, StoredObject, WriterBase, check_key


class MemoryStore:
    def __init__(self, *, fail_after_bytes: int | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.open_writers: set[str] = set()  # keys being written: a test asserts this is empty afterwards
        self.history: list[str] = []  # keys in the order they became visible
        self.fail_after_bytes = fail_after_bytes

    @property
    def url(self) -> str:
        return "memory://"

    def writer(self, key: str, *, expected_size: int | None = None) -> MemoryWriter:
        return MemoryWriter(self, check_key(key))

    async def put_bytes(self, key: str, data: bytes) -> StoredObject:
        self.objects[check_key(key)] = bytes(data)
        self.history.append(key)
        return StoredObject(key, len(data))

    async def put_if_absent(self, key: str, data: bytes) -> bool:
        if check_key(key) in self.objects:
            return False
        await self.put_bytes(key, data)
        return True

    async def get_bytes(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectNotFound(f"no object {key!r} in memory") from None

    async def read(self, key: str, *, chunk_size: int = 8 << 20) -> AsyncIterator[bytes]:
        data = await self.get_bytes(key)
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def list(self, prefix: str) -> list[StoredObject]:
        return [StoredObject(k, len(v)) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    async def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [k for k in self.objects if k.startswith(prefix)]
        await self.delete(doomed)
        return len(doomed)

    async def abort_uploads(self, prefix: str) -> int:
        return 0

    async def close(self) -> None:
        return None


class MemoryWriter(WriterBase):
    def __init__(self, store: MemoryStore, key: str) -> None:
        self.key = key
        self._store = store
        self._data = bytearray()
        store.open_writers.add(key)

    @property
    def bytes_written(self) -> int:
        return len(self._data)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        limit = self._store.fail_after_bytes
        if limit is not None and len(self._data) + len(data) > limit:
            raise StorageUnavailable(f"memory store refuses {self.key!r} beyond {limit} bytes (test fault)")
        self._data += data

    async def commit(self) -> StoredObject:
        self._store.objects[self.key] = bytes(self._data)
        self._store.history.append(self.key)
        self._store.open_writers.discard(self.key)
        self.committed = True
        return StoredObject(self.key, len(self._data))

    async def abort(self) -> None:
        self._data = bytearray()
        self._store.open_writers.discard(self.key)
