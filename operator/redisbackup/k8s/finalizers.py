"""Adding or removing one finalizer of an object, without ever dropping someone else's.

Every write carries the object's resourceVersion as a precondition (a JSON merge patch with
metadata.resourceVersion): the finalizer list is replaced as a whole, so a concurrent change by someone else must
make us read again rather than drop their finalizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redisbackup.k8s.faults import UpdateConflict

ATTEMPTS = 5

Read = Callable[[], dict[str, Any] | None]
Patch = Callable[[dict[str, Any]], object]


def set_finalizer(
    read: Read,
    patch: Patch,
    *,
    uid: str,
    finalizer: str,
    present: bool,
    what: str,
    annotations: dict[str, str] | None = None,
) -> bool:
    """Add (`present`) or remove `finalizer` on the object `read` returns (and write `annotations` in the same
    patch); False when the object is gone or is another one (another uid): nothing left to do."""
    for _attempt in range(ATTEMPTS):
        body = read()
        if body is None or str(body["metadata"].get("uid")) != uid:
            return False
        finalizers = list(body["metadata"].get("finalizers") or [])
        wanted = [f for f in finalizers if f != finalizer] + ([finalizer] if present else [])
        metadata: dict[str, Any] = {"resourceVersion": body["metadata"]["resourceVersion"]}
        if wanted != finalizers:
            metadata["finalizers"] = wanted
        if annotations:
            metadata["annotations"] = annotations
        if len(metadata) == 1:
            return True
        try:
            patch({"metadata": metadata})
        except UpdateConflict:
            continue  # changed since we read it: read again
        return True
    raise UpdateConflict(f"{what} kept changing while its finalizer {finalizer} was updated")
