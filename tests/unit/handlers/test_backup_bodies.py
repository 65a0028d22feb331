"""The RedisBackup bodies the operator keeps (a running task's live body) are kept without managedFields."""

from __future__ import annotations

from typing import Any

import kopf

from redisbackup import main
from redisbackup.handlers import backups as handlers
from redisbackup.k8s.informer import forget_managed_fields


def raw_backup() -> dict[str, Any]:
    return {
        "apiVersion": "redisbackup.io/v1alpha1",
        "kind": "RedisBackup",
        "metadata": {
            "name": "weekly",
            "namespace": "team",
            "uid": "u-1",
            "creationTimestamp": "2026-05-01T12:00:00Z",
            "finalizers": ["redisbackup.io/data"],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"snapshotName": "weekly", "cacheClusterId": "c-001"},
        "status": {"phase": "creating"},
    }


def test_managed_fields_leave_the_body_and_nothing_else_does() -> None:
    raw = raw_backup()
    forget_managed_fields(raw)
    expected = raw_backup()
    del expected["metadata"]["managedFields"]
    assert raw == expected
    forget_managed_fields({"metadata": None})  # malformed bodies are left alone


async def test_an_event_indexes_the_backup_and_its_task_keeps_a_body_of_its_own() -> None:
    reconciler = main.build_reconciler(main.OperatorOptions(webhook=None))
    events = handlers.register(kopf.OperatorRegistry(), reconciler)
    raw = raw_backup()
    forget_managed_fields(raw)
    snapshots = events.tasks[0]
    snapshots._wanted = lambda body: False  # type: ignore[method-assign]  # no snapshot really starts here
    await events("ADDED", raw)
    assert [b.uid for b in reconciler.index.named("team", "Weekly")] == ["u-1"]
    await events.close()
