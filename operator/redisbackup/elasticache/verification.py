"""Asking the operator to verify a snapshot (spec.verify): not an ElastiCache operation, but one of every face's.

The operator verifies an available RedisBackup that asks for it once — each stored RDB against the manifest, by
redis-check-rdb and by loading it into a throwaway redis-server — and records the result in status.verification
(`redisbackup.workflows.verification`). Asking is a patch of the spec, so RBAC's `patch` on redisbackups decides
who may.
"""

from __future__ import annotations

from typing import Any

from redisbackup.domain import acceptance
from redisbackup.domain.faults import InvalidSnapshotState
from redisbackup.elasticache.caller import Caller
from redisbackup.k8s import api, redisbackups


async def request_verification(caller: Caller, snapshot_name: str) -> dict[str, Any]:
    """Set spec.verify on the snapshot's RedisBackup; the RedisBackup as it is then. A snapshot that is not
    available is InvalidSnapshotState: there is nothing stored to verify yet (or any more)."""
    body = await api.in_thread(redisbackups.find_backup, caller.namespace, snapshot_name, caller.client)
    phase = acceptance.phase(body)
    if phase != "available":
        raise InvalidSnapshotState(
            f"Snapshot {snapshot_name} is {phase}: only an available snapshot can be verified",
            field="SnapshotName",
        )
    if (body.get("spec") or {}).get("verify"):
        return body
    name = body["metadata"]["name"]
    patch = {"spec": {"verify": True}}
    return await api.in_thread(redisbackups.patch_backup, caller.namespace, name, patch, caller.client)
