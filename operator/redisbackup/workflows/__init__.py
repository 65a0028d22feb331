"""Use cases that combine the I/O layers: take a snapshot, delete one, restore, verify.

Both the operator's handlers and the CLI call these, so the operator and `redisbackup dump` share one data path:

    take_snapshot(plan, store, location, connection, *, progress=None, timeouts=None, tags=None) -> Manifest
    read_manifest(store, location) -> Manifest | None
    delete_snapshot(store, location) -> int
"""

from redisbackup.workflows.commit import read_manifest
from redisbackup.workflows.progress import Progress
from redisbackup.workflows.snapshot import delete_snapshot, snapshot_node, take_snapshot

__all__ = ["Progress", "delete_snapshot", "read_manifest", "snapshot_node", "take_snapshot"]
