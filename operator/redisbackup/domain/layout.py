"""Where a snapshot's objects live inside a storage location.

    <namespace>/<snapshotName>/<uid>/<attempt>/node-0001.rdb   one RDB per node (CacheNodeId) or shard (NodeGroupId)
    <namespace>/<snapshotName>/<uid>/manifest.json             created last, once: the commit record

Keys are relative to the location (an S3 bucket + prefix, or a directory), so a location copied elsewhere stays
valid. The uid (the RedisBackup's metadata.uid) keeps a re-created RedisBackup of the same name from ever mixing
with the objects of a deleted one. Each attempt at the snapshot (a retry, or another operator process during a
rolling update) writes under its own attempt id, so no attempt overwrites or deletes another's objects; the
manifest names the attempt it commits and its object keys, and readers follow those keys. What the committed
manifest does not name is garbage; before a manifest exists, only an attempt whose process is gone is.
Snapshots written before attempts had their own keys keep their RDBs directly under <uid>/: their manifests say so.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from redisbackup.domain.faults import ValidationFault

MANIFEST_NAME = "manifest.json"
RDB_PATTERN = re.compile(r"node-(\d{4})\.rdb")

# Kubernetes names (namespace, uid) and snapshot names are far stricter; this only keeps a key component from
# escaping its directory or confusing a file system.
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_component(field: str, value: str) -> str:
    if not _SAFE_COMPONENT.fullmatch(value) or len(value) > 253:
        raise ValidationFault(
            f"{field} {value!r} cannot be part of a storage key: use 1-253 ASCII letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return value


@dataclass(frozen=True)
class SnapshotLocation:
    namespace: str
    snapshot_name: str
    uid: str

    def __post_init__(self) -> None:
        _check_component("namespace", self.namespace)
        _check_component("snapshotName", self.snapshot_name)
        _check_component("uid", self.uid)

    @property
    def directory(self) -> str:
        """The key prefix every object of this snapshot shares, ending in '/'."""
        return f"{self.namespace}/{self.snapshot_name}/{self.uid}/"

    @property
    def manifest_key(self) -> str:
        return self.directory + MANIFEST_NAME

    def attempt_directory(self, attempt: str) -> str:
        """The key prefix of one attempt's objects, ending in '/'."""
        return f"{self.directory}{_check_component('attempt', attempt)}/"

    def node_key(self, node_id: str, *, attempt: str) -> str:
        """node_id is the four-digit CacheNodeId/NodeGroupId ("0001"); `attempt` the id of the attempt storing it."""
        key = f"node-{node_id}.rdb"
        if not RDB_PATTERN.fullmatch(key):
            raise ValidationFault(f"node id {node_id!r} is not a four-digit id such as 0001", field="nodeId")
        return self.attempt_directory(attempt) + key


def new_attempt_id(now: dt.datetime | None = None) -> str:
    """A fresh attempt id: when it started (sorts by time, tells a reader which attempt is which) and 32 random
    bits (two processes starting in the same second never share one)."""
    started = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def split_snapshot_url(url: str) -> tuple[str, SnapshotLocation]:
    """`<location>/<namespace>/<snapshotName>/<uid>[/manifest.json]` → (the location's URL, the snapshot in it).

    For restores without Kubernetes: status.location of a RedisBackup (or a listing of the bucket) gives this URL.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    parts = rest.split("/")
    if parts and parts[-1] == MANIFEST_NAME:
        parts.pop()
    while parts and parts[-1] == "":
        parts.pop()
    # s3://bucket/… keeps its bucket; file:///dir/… and plain paths keep their leading "/".
    head = 1 if scheme == "s3" else 0
    if len(parts) - head < 3 or not all(parts[-3:]):
        raise ValidationFault(
            f"{url!r} does not name a snapshot: use <location>/<namespace>/<snapshotName>/<uid>, e.g. "
            "s3://bucket/prefix/default/nightly/1b4e28ba-2fa1-11d2-883f-0016d3cca427 (a RedisBackup's "
            "status.location)",
            field="--from",
        )
    namespace, snapshot_name, uid = parts[-3:]
    root = "/".join(parts[:-3]) or ("" if scheme == "s3" else "/")
    location_url = f"{scheme}://{root}" if separator else (root or "/")
    return location_url, SnapshotLocation(namespace=namespace, snapshot_name=snapshot_name, uid=uid)
