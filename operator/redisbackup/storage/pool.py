"""One open store per configured storage location, shared by every snapshot the operator takes or deletes.

Opening an S3 store builds a boto3 client and a thread pool, far too heavy to do per snapshot when a thousand
run. Credentials from files (a mounted Secret) are used without a restart when the Secret is rotated: the files
are looked at (a `stat`) on each use and read again, in a thread, only when they changed. A store opened with the
old keys is closed as soon as the last snapshot using it ends — each user holds a `lease` — so a rotation leaks
neither a boto3 client nor its threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from redisbackup.api.config import S3Credentials, StorageLocation
from redisbackup.storage.base import ObjectStore, StorageAccessDenied, StorageLocationNotFound
from redisbackup.storage.file import FileStore

log = logging.getLogger(__name__)

Keys = tuple[str | None, str | None, str | None]
NO_KEYS: Keys = (None, None, None)
Signature = tuple[tuple[int, int, int, int] | None, ...]


def _files(credentials: S3Credentials) -> tuple[Path, Path, Path]:
    directory = Path(credentials.directory)
    return (
        directory / credentials.access_key_id_key,
        directory / credentials.secret_access_key_key,
        directory / credentials.session_token_key,
    )


def read_credentials(credentials: S3Credentials) -> Keys:
    """(access key id, secret, session token) from the mounted Secret's files."""
    access, secret, token = _files(credentials)

    def read(path: Path, *, required: bool) -> str | None:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            if required:
                raise StorageAccessDenied(
                    f"the storage credentials file {path} is missing: mount the Secret with the key {path.name} at "
                    f"{credentials.directory} (storage.locations.*.s3.credentials)"
                ) from None
            return None
        except OSError as error:
            raise StorageAccessDenied(f"cannot read the storage credentials file {path}: {error}") from None

    return read(access, required=True), read(secret, required=True), read(token, required=False)


def credentials_signature(credentials: S3Credentials) -> Signature:
    """What identifies the files' current contents without reading them: a mounted Secret is replaced by swapping
    a symlink, which changes the inode and modification time of every file behind it."""

    def stat(path: Path) -> tuple[int, int, int, int] | None:
        try:
            found = path.stat()
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_ctime_ns, found.st_size

    return tuple(stat(path) for path in _files(credentials))


def open_location(location: StorageLocation, keys: Keys = NO_KEYS) -> ObjectStore:
    if location.file is not None:
        return FileStore(Path(location.file.path))
    s3 = location.s3
    assert s3 is not None
    # boto3 and botocore (a few hundred ms of CPU) only once an S3 location is first used, not at the operator's
    # start, which they would delay (tests/unit/test_operator_imports.py).
    from redisbackup.storage.s3 import S3Settings, S3Store

    return S3Store(
        S3Settings(
            bucket=s3.bucket,
            prefix=s3.prefix,
            endpoint_url=s3.endpoint,
            region=s3.region,
            access_key_id=keys[0],
            secret_access_key=keys[1],
            session_token=keys[2],
            addressing_style=s3.addressing_style,
            verify=s3.ca_bundle or True,
            max_threads=s3.transfer.threads,
            parts_in_flight=s3.transfer.parts_in_flight,
            min_part_size=s3.transfer.part_size_mib << 20,
        )
    )


@dataclass(eq=False)
class _OpenStore:
    keys: Keys
    store: ObjectStore
    leases: int = 0


class StorePool:
    def __init__(self, locations: dict[str, StorageLocation]) -> None:
        self.locations = locations
        self._open: dict[str, _OpenStore] = {}
        self._retired: list[_OpenStore] = []  # replaced while leased: closed when their last lease ends
        self._keys: dict[str, tuple[Signature, Keys]] = {}
        self._lock = asyncio.Lock()

    def location(self, name: str) -> StorageLocation:
        """Location `name` of the configuration; StorageLocationNotFound when it has none."""
        location = self.locations.get(name)
        if location is None:
            known = ", ".join(sorted(self.locations))
            raise StorageLocationNotFound(
                f'storage location "{name}" is not in the operator\'s configuration (known: {known}): correct '
                "spec.storage, or add the location to the operator's storage.locations"
            )
        return location

    @contextlib.asynccontextmanager
    async def lease(self, name: str) -> AsyncIterator[ObjectStore]:
        """The open store of location `name`, kept open until the block ends even if its credentials rotate."""
        entry = await self._current(name, lease=True)
        try:
            yield entry.store
        finally:
            entry.leases -= 1
            if entry.leases == 0 and entry in self._retired:
                self._retired.remove(entry)
                await asyncio.shield(entry.store.close())

    async def open(self, name: str) -> ObjectStore:
        """The open store of location `name`, for a short-lived process that closes the pool when done (the CLI)."""
        return (await self._current(name, lease=False)).store

    async def _current(self, name: str, *, lease: bool) -> _OpenStore:
        location = self.location(name)
        async with self._lock:
            keys = await self._credentials(name, location)
            entry = self._open.get(name)
            if entry is None or entry.keys != keys:
                if entry is not None:
                    log.info("the credentials of storage location %s changed: reconnecting", name)
                    await self._retire(entry)
                entry = self._open[name] = _OpenStore(keys, self._open_location(location, keys))
            entry.leases += lease
            return entry

    async def _credentials(self, name: str, location: StorageLocation) -> Keys:
        """The location's keys: NO_KEYS for the AWS chain, else the files' (read again only when they changed)."""
        if location.s3 is None or location.s3.credentials is None:
            return NO_KEYS
        files = location.s3.credentials
        signature = credentials_signature(files)
        cached = self._keys.get(name)
        if cached is not None and cached[0] == signature:
            return cached[1]
        keys = await asyncio.to_thread(read_credentials, files)
        self._keys[name] = (signature, keys)
        return keys

    async def _retire(self, entry: _OpenStore) -> None:
        if entry.leases:
            self._retired.append(entry)  # a running snapshot still writes through it
        else:
            await entry.store.close()

    def _open_location(self, location: StorageLocation, keys: Keys) -> ObjectStore:
        return open_location(location, keys)

    async def close(self) -> None:
        for entry in [*self._retired, *self._open.values()]:
            await entry.store.close()
        self._open.clear()
        self._retired.clear()
