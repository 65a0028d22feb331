"""Use cases that combine the I/O layers: take a snapshot, delete one, restore, verify.

Both the operator's handlers and the CLI call these, so the operator and `redisbackup dump` share one data path:

    take_snapshot(plan, store, location, connection, *, progress=None, timeouts=None, tags=None) -> Manifest
    read_manifest(store, location) -> Manifest | None
    delete_snapshot(store, location) -> int
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): a command that needs one workflow (describe-snapshots needs locate) does not
# pay for redis-py and boto3 through the others.
_EXPORTS = {
    "Progress": "progress",
    "delete_snapshot": "snapshot",
    "read_manifest": "commit",
    "snapshot_node": "snapshot",
    "take_snapshot": "snapshot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
