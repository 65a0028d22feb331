"""Every failure of an attempt is a typed fault, told in the status and an Event: transient ones count against
limits.snapshotAttempts (the apiserver's included), permanent ones fail at once, a bug is InternalFailure, and a
snapshot already stored is never failed because its status could not be written. The same for deletions and
verifications. (The real control plane's side: tests/e2e/test_operator_faults.py.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from redisbackup.domain.faults import InternalFailure, RedisBackupError
from redisbackup.domain.pods import Workload
from redisbackup.k8s.faults import AccessDenied, KubernetesUnavailable
from redisbackup.k8s.locks import Holder, LockConflict
from redisbackup.storage.base import ObjectStore, StorageUnavailable
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.deletion import release_backup
from redisbackup.workflows.verification import Verifications
from tests.unit.datapath.fake_redis import FakeRedis
from tests.unit.datapath.test_rdb_verifier import REAL_RDB
from tests.unit.reconciler.fakes import FakeKubernetes, backups, body, single_pod

pytestmark = pytest.mark.asyncio


def condition(kubernetes: FakeKubernetes, kind: str, name: str = "nightly") -> dict[str, Any]:
    return next(c for c in kubernetes.statuses[name]["conditions"] if c["type"] == kind)


async def test_an_apiserver_that_keeps_failing_counts_against_snapshot_attempts_and_fails_the_backup() -> None:
    def unreachable() -> None:
        raise KubernetesUnavailable("the Kubernetes API could not list Pods in namespace team: 503 Unavailable")

    kubernetes = FakeKubernetes(unreachable)  # type: ignore[arg-type]
    workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 3")
    for attempt in (1, 2):
        with pytest.raises(KubernetesUnavailable):
            await workflow.run(body(status=kubernetes.statuses.get("nightly")))
        progressing = condition(kubernetes, "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("True", "KubernetesUnavailable")
        assert f"(attempt {attempt} of 3, limits.snapshotAttempts" in progressing["message"]
    await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert kubernetes.statuses["nightly"]["phase"] == "failed"
    failed = condition(kubernetes, "Failed")
    assert failed["reason"] == "KubernetesUnavailable"
    assert "503 Unavailable (gave up after 3 attempts; limits.snapshotAttempts is 3)" in failed["message"]
    assert kubernetes.reasons() == [
        "Creating",
        "KubernetesUnavailable",
        "KubernetesUnavailable",
        "KubernetesUnavailable",
    ]


async def test_a_workload_that_keeps_changing_is_a_typed_transient_fault_told_in_progressing() -> None:
    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))

        async def conflict(namespace: str, workload: Workload, holder: Holder) -> Holder | None:
            raise LockConflict(f"{workload} in namespace {namespace} changed 5 times in a row")

        kubernetes.mark = conflict  # type: ignore[method-assign]
        workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 2")
        with pytest.raises(LockConflict) as raised:
            await workflow.run(body())
        assert isinstance(raised.value, RedisBackupError)
        progressing = condition(kubernetes, "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("True", "InvalidCacheClusterState")
        assert "changed 5 times in a row (attempt 1 of 2, limits.snapshotAttempts" in progressing["message"]
        await workflow.run(body(status=kubernetes.statuses["nightly"]))
    failed = condition(kubernetes, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "InvalidCacheClusterState")
    assert "(gave up after 2 attempts; limits.snapshotAttempts is 2)" in failed["message"]
    assert kubernetes.reasons() == ["Creating", "InvalidCacheClusterState", "InvalidCacheClusterState"]
    assert server.commands == []


async def test_an_unexpected_exception_is_an_internal_failure_in_the_status_then_fails_the_backup() -> None:
    def broken() -> None:
        raise KeyError("status")

    kubernetes = FakeKubernetes(broken)  # type: ignore[arg-type]
    workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 2")
    with pytest.raises(InternalFailure):
        await workflow.run(body())
    progressing = condition(kubernetes, "Progressing")
    assert progressing["reason"] == "InternalFailure"
    assert "unexpected KeyError while taking the snapshot: 'status'. This is a bug" in progressing["message"]
    await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert (kubernetes.statuses["nightly"]["phase"], condition(kubernetes, "Failed")["reason"]) == (
        "failed",
        "InternalFailure",
    )


async def test_a_copy_whose_source_may_not_be_read_fails_at_once() -> None:
    # Decided: a refusal by RBAC is permanent wherever it happens (as for a Secret): retrying cannot change it,
    # and the Failed condition tells the user what to grant. It failed at once before the API calls were typed.
    def forbidden() -> None:
        raise AccessDenied("not allowed to list RedisBackups in namespace team: forbidden")

    kubernetes = FakeKubernetes(lambda: pytest.fail("a copy resolves no source"), copy_source=forbidden)  # type: ignore[arg-type]
    workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 5")
    await workflow.run(body("copy", sourceSnapshotName="nightly", cacheClusterId=None))
    assert kubernetes.statuses["copy"]["phase"] == "failed"
    failed = condition(kubernetes, "Failed", "copy")
    assert (failed["reason"], failed["message"]) == (
        "AccessDenied",
        "not allowed to list RedisBackups in namespace team: forbidden",
    )


async def test_a_stored_snapshot_whose_status_cannot_be_written_is_retried_and_never_failed() -> None:
    store = MemoryStore()
    refusing = [True]

    def refuse(status: Mapping[str, Any]) -> Exception | None:
        if refusing[0] and status.get("phase") == "available":
            return KubernetesUnavailable("the Kubernetes API could not update the status: 503 Unavailable")
        return None

    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port), refuse_write=refuse)
        workflow = backups(kubernetes, store, limits="snapshotAttempts: 1")
        for _ in range(3):
            with pytest.raises(KubernetesUnavailable):
                await workflow.run(body(status=kubernetes.statuses.get("nightly")))
            assert kubernetes.statuses["nightly"]["phase"] == "creating"
            assert "the snapshot is stored" in condition(kubernetes, "Progressing")["message"]
        refusing[0] = False
        await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert kubernetes.statuses["nightly"]["phase"] == "available"
    assert len(server.commands) > 0
    (rdb,) = [key for key in store.objects if key.startswith("team/nightly/uid-1/") and key.endswith(".rdb")]
    assert store.objects[rdb] == REAL_RDB, "the one attempt that stored it: its status was only late"


async def test_any_fault_of_a_deletion_blocks_it_with_its_reason_a_bug_too() -> None:
    kubernetes, store = FakeKubernetes(single_pod), MemoryStore()  # type: ignore[arg-type]

    async def broken(prefix: str) -> int:
        raise TypeError("'NoneType' object is not iterable")

    store.delete_prefix = broken  # type: ignore[method-assign]
    status = {"phase": "available", "storage": "embedded", "location": "memory:///team/nightly/uid-1/"}
    deleted = body(status=status)
    deleted["metadata"]["deletionTimestamp"] = "2026-05-02T00:00:00Z"
    with pytest.raises(InternalFailure):
        await release_backup(backups(kubernetes, store), deleted)
    blocked = condition(kubernetes, "DeletionBlocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "InternalFailure")
    assert "unexpected TypeError while deleting the snapshot" in blocked["message"]
    assert 'annotate the RedisBackup redisbackup.io/force-delete="true"' in blocked["message"]
    assert kubernetes.reasons()[-1] == "DeletionBlocked"


async def test_a_verification_that_cannot_be_done_is_told_and_after_the_attempts_recorded() -> None:
    kubernetes = FakeKubernetes(single_pod)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def unreachable(_: str) -> AsyncIterator[ObjectStore]:
        raise StorageUnavailable("cannot reach S3 at http://s3.local: connection refused")
        yield MemoryStore()  # pragma: no cover - never reached

    status = {"phase": "available", "storage": "embedded", "conditions": []}
    verifications = Verifications(unreachable, kubernetes, attempts=2)
    with pytest.raises(StorageUnavailable):
        await verifications.run(body(status=status, verify=True))
    verified = condition(kubernetes, "Verified")
    assert (verified["status"], verified["reason"]) == ("Unknown", "StorageUnavailable")
    assert "(attempt 1 of 2, limits.snapshotAttempts" in verified["message"]

    report = await verifications.run(body(status=status, verify=True))
    assert report is not None
    assert not report.passed
    verified = condition(kubernetes, "Verified")
    assert (verified["status"], verified["reason"]) == ("False", "StorageUnavailable")
    assert kubernetes.statuses["nightly"]["verification"]["result"] == "Failed"
    assert "gave up after 2 attempts" in kubernetes.statuses["nightly"]["verification"]["message"]
