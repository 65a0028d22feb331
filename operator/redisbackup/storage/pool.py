"""One open store per configured storage location, shared by every snapshot the operator takes or deletes.

Opening an S3 store builds a boto3 client and a thread pool, far too heavy to do per snapshot when a thousand
run. Credentials from files (a mounted Secret) are re-read when the files change, so a rotated Secret is used
without a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redisbackup.api.config import S3Credentials, StorageLocation
from redisbackup.storage.base import ObjectStore, StorageAccessDenied, StorageLocationNotFound
from redisbackup.storage.file import FileStore
from redisbackup.storage.s3 import S3Settings, S3Store

log = logging.getLogger(__name__)

Keys = tuple[str | None, str | None, str | None]


def read_credentials(credentials: S3Credentials) -> Keys:
    """(access key id, secret, session token) from the mounted Secret's files."""
    directory = Path(credentials.directory)

    def read(key: str, *, required: bool) -> str | None:
        path = directory / key
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            if required:
                raise StorageAccessDenied(
                    f"the storage credentials file {path} is missing: mount the Secret with the key {key} at "
                    f"{directory} (storage.locations.*.s3.credentials)"
                ) from None
            return None
        except OSError as error:
            raise StorageAccessDenied(f"cannot read the storage credentials file {path}: {error}") from None

    return (
        read(credentials.access_key_id_key, required=True),
        read(credentials.secret_access_key_key, required=True),
        read(credentials.session_token_key, required=False),
    )


def open_location(location: StorageLocation, keys: Keys = (None, None, None)) -> ObjectStore:
    if location.file is not None:
        return FileStore(Path(location.file.path))
    s3 = location.s3
    assert s3 is not None
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
        )
    )


class StorePool:
    def __init__(self, locations: dict[str, StorageLocation]) -> None:
        self.locations = locations
        self._open: dict[str, tuple[Keys, ObjectStore]] = {}
        self._retired: list[ObjectStore] = []

    def get(self, name: str) -> ObjectStore:
        """The open store of location `name`; StorageLocationNotFound when the configuration has none."""
        location = self.locations.get(name)
        if location is None:
            known = ", ".join(sorted(self.locations))
            raise StorageLocationNotFound(
                f'storage location "{name}" is not in the operator\'s configuration (known: {known}): correct '
                "spec.storage, or add the location to the operator's storage.locations"
            )
        keys: Keys = (None, None, None)
        if location.s3 is not None and location.s3.credentials is not None:
            keys = read_credentials(location.s3.credentials)
        cached = self._open.get(name)
        if cached is not None and cached[0] == keys:
            return cached[1]
        if cached is not None:
            log.info("the credentials of storage location %s changed: reconnecting", name)
            self._retired.append(cached[1])  # it may still serve a running snapshot: closed at exit
        store = open_location(location, keys)
        self._open[name] = (keys, store)
        return store

    async def close(self) -> None:
        for store in [*self._retired, *(store for _, store in self._open.values())]:
            await store.close()
        self._open.clear()
        self._retired.clear()
