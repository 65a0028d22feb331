"""Opening a store from a location URL: `file:///DIR` (or a plain path) and `s3://BUCKET[/PREFIX]`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from redisbackup.domain.faults import ValidationFault
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.file import FileStore


def open_store(url: str, **s3_options: Any) -> ObjectStore:
    """A store for `url`; `s3_options` are S3Settings fields (endpoint_url, region, credentials…)."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        if parts.netloc not in ("", "localhost"):
            raise ValidationFault(f"file URL {url!r} names a host; use file:///absolute/path", field="location")
        path = unquote(parts.path)
        if not path:
            raise ValidationFault(f"location {url!r} has no directory", field="location")
        return FileStore(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValidationFault(f"S3 URL {url!r} has no bucket: use s3://BUCKET/PREFIX", field="location")
        from redisbackup.storage.s3 import S3Settings, S3Store  # boto3: only when a location is in S3

        known = {f.name for f in dataclasses.fields(S3Settings)}
        unknown = set(s3_options) - known
        if unknown:
            raise ValidationFault(f"unknown S3 options {sorted(unknown)}", field="location")
        return S3Store(S3Settings(bucket=parts.netloc, prefix=unquote(parts.path).strip("/"), **s3_options))
    raise ValidationFault(f"location {url!r} is neither file:///DIR nor s3://BUCKET/PREFIX", field="location")
