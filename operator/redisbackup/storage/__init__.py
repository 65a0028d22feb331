"""Object stores for snapshots: the ObjectStore protocol, FileStore (embedded default) and S3Store.

`open_store(url, **s3_settings)` opens `file:///DIR` or `s3://BUCKET/PREFIX`; `FileStore(root)` and
`S3Store(S3Settings(...))` directly; `storage.memory.MemoryStore` is for unit tests only.
"""

from __future__ import annotations

import importlib
from typing import Any

# Where each name lives. Imported on first use (PEP 562), so that reaching storage.base does not import boto3:
# the commands that never touch S3 start faster (a `make bench` figure).
_EXPORTS = {
    "ObjectNotFound": "base",
    "ObjectStore": "base",
    "ObjectWriter": "base",
    "StorageAccessDenied": "base",
    "StorageLocationNotFound": "base",
    "StorageUnavailable": "base",
    "StoredObject": "base",
    "FileStore": "file",
    "open_store": "location",
    "S3Settings": "s3",
    "S3Store": "s3",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
