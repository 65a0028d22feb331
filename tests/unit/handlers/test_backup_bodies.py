"""The RedisBackup bodies kopf keeps (one per object while it lives) are kept without managedFields."""

from __future__ import annotations

from typing import Any

import kopf

from redisbackup import main
from redisbackup.handlers import backups as handlers
from redisbackup.workflows.backup import RedisBackupReconciler


def raw_backup() -> dict[str, Any]:
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {
            "name": "weekly",
            "namespace": "team",
            "uid": "u-1",
            "creationTimestamp": "2026-05-01T12:00:00Z",
            "annotations": {"redisbackup.io/last-handled-configuration": "{}"},
            "finalizers": ["redisbackup.io/data"],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"snapshotName": "weekly", "cacheClusterId": "c-001"},
        "status": {"phase": "available"},
    }


def test_managed_fields_leave_the_body_kopf_keeps_and_nothing_else_does() -> None:
    raw = raw_backup()
    body = kopf.Body(raw)
    handlers.forget_managed_fields(body)
    assert "managedFields" not in raw["metadata"], "the raw dict kopf keeps behind the Body is what shrinks"
    expected = raw_backup()
    del expected["metadata"]["managedFields"]
    assert raw == expected
    handlers.forget_managed_fields(kopf.Body({"metadata": None}))  # malformed bodies are left alone


async def test_the_index_handler_indexes_the_backup_then_slims_its_body() -> None:
    registry = main.build_registry(main.OperatorOptions(webhook=None))
    (index_handler,) = [h for h in registry._watching.get_all_handlers() if h.id == handlers.INDEX_ID]
    reconcilers = [
        c.cell_contents
        for c in (index_handler.fn.__closure__ or ())
        if isinstance(c.cell_contents, RedisBackupReconciler)
    ]
    (reconciler,) = reconcilers
    raw = raw_backup()
    await index_handler.fn(type=None, body=kopf.Body(raw))
    assert [b.uid for b in reconciler.index.named("team", "Weekly")] == ["u-1"]
    assert "managedFields" not in raw["metadata"]
