"""Object stores for snapshots: the ObjectStore protocol, FileStore (embedded default) and S3Store.

`open_store(url, **s3_settings)` opens `file:///DIR` or `s3://BUCKET/PREFIX`; `FileStore(root)` and
`S3Store(S3Settings(...))` directly; `storage.memory.MemoryStore` is for unit tests only.
"""

from redisbackup.storage.base import (
    ObjectNotFound,
    ObjectStore,
    ObjectWriter,
    StorageAccessDenied,
    StorageLocationNotFound,
    StorageUnavailable,
    StoredObject,
)
from redisbackup.storage.file import FileStore
from redisbackup.storage.location import open_store
from redisbackup.storage.s3 import S3Settings, S3Store

__all__ = [
    "FileStore",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectWriter",
    "S3Settings",
    "S3Store",
    "StorageAccessDenied",
    "StorageLocationNotFound",
    "StorageUnavailable",
    "StoredObject",
    "open_store",
]
