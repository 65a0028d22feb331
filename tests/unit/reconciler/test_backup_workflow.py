"""The backup use case with a scripted Redis, a memory store and a Kubernetes of plain objects."""

from __future__ import annotations

import asyncio
import datetime as dt
from unittest.mock import patch

import pytest

from redisbackup.api.validation import ExistingBackup
from redisbackup.domain.pods import Workload
from redisbackup.domain.resolution import ResolvedSource, SourceAmbiguous, SourceNotFound
from redisbackup.domain.status import is_terminal
from redisbackup.k8s.locks import Holder
from redisbackup.redis.faults import ConnectionLost, RedisNotReady
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.uniqueness import KnownPeers
from tests.unit.datapath.fake_redis import INFO, FakeRedis
from tests.unit.datapath.test_rdb_verifier import REAL_RDB
from tests.unit.reconciler.fakes import CREATED, PROCESS, FakeKubernetes, backups, body, single_pod

pytestmark = pytest.mark.asyncio


async def test_a_new_backup_is_created_marked_planned_streamed_unmarked_and_available_in_three_status_writes() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        workflow = backups(kubernetes, store)
        await workflow.run(body())
    status = kubernetes.statuses["nightly"]
    assert status["phase"] == "available"
    assert status["nodeSnapshots"][0]["cacheSize"] == str(len(REAL_RDB))
    assert status["nodeSnapshots"][0]["sourcePod"] == "cache-0"
    assert status["location"] == "memory:///team/nightly/uid-1/"
    key = status["nodeSnapshots"][0]["objectKey"]
    assert key.startswith("team/nightly/uid-1/20260501T120001Z-")
    assert key.endswith("/node-0001.rdb")
    assert store.objects[key] == REAL_RDB
    # creating, planned (engine, port, nodes: what create-snapshot shows), available; a small snapshot writes no
    # progress.
    assert len(kubernetes.patches) == 3
    planned = kubernetes.patches[1][1]
    assert (planned["engine"], planned["numCacheNodes"], planned["nodeSnapshots"]) == (
        "redis",
        1,
        [
            {
                "cacheNodeId": "0001",
                "cacheSize": "",
                "cacheNodeCreateTime": "2026-05-01T12:00:00Z",
                "sourcePod": "cache-0",
            }
        ],
    )
    assert kubernetes.reasons() == ["Creating", "Available"]
    holder = Holder("nightly", "uid-1", "team", process=PROCESS, attempt=key.split("/")[3])
    workload = Workload("StatefulSet", "cache")
    assert kubernetes.marks == [("mark", workload, holder), ("unmark", workload, holder)]
    assert workflow.metrics.backups.labels(result="available")._value.get() == 1
    assert workflow.metrics.snapshots_started._value.get() == 1


async def test_a_terminal_backup_is_never_snapshotted_again() -> None:
    kubernetes = FakeKubernetes(lambda: pytest.fail("a terminal backup must not even be resolved"))
    workflow = backups(kubernetes, MemoryStore())
    for phase in ("available", "failed"):
        await workflow.run(body(status={"phase": phase}))
    assert kubernetes.patches == []
    assert kubernetes.events == []


async def test_a_resumed_backup_whose_manifest_is_committed_only_writes_its_status() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        await backups(kubernetes, store).run(body())  # the first operator commits …
        committed = dict(store.objects)
        commands_before = len(server.commands)
        restarted = FakeKubernetes(lambda: single_pod(server.port))  # … and dies before its status write
        await backups(restarted, store).run(body(status={"phase": "creating", "storage": "embedded"}))
    assert restarted.statuses["nightly"]["phase"] == "available"
    assert len(server.commands) == commands_before, "Redis was asked again for a committed snapshot"
    assert store.objects == committed
    assert restarted.marks == []


def missing() -> None:
    raise SourceNotFound("no Pod or StatefulSet named cache-0 in namespace team")


async def test_a_missing_source_is_awaited_from_when_the_wait_began_until_the_deadline_then_fails() -> None:
    """The deadline counts from the first attempt that found the source missing — kept in status across restarts —
    not from creation: this backup was created an hour before its source went missing."""
    began = CREATED + dt.timedelta(hours=1)
    kubernetes = FakeKubernetes(missing)  # type: ignore[arg-type]
    first = backups(kubernetes, MemoryStore(), limits="sourceMissingDeadlineSeconds: 60", now=began)
    with pytest.raises(SourceNotFound):
        await first.run(body())
    status = kubernetes.statuses["nightly"]
    assert (status["phase"], status["sourceMissingSince"]) == ("creating", "2026-05-01T13:00:00Z")
    assert kubernetes.reasons() == ["Creating", "CacheClusterNotFound"]
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert "(waiting since 2026-05-01T13:00:00Z; limits.sourceMissingDeadlineSeconds is 60)" in progressing["message"]
    with pytest.raises(SourceNotFound):
        await first.run(body(status=status))
    assert kubernetes.reasons() == ["Creating", "CacheClusterNotFound"], "a retry with no news writes nothing"

    restarted = backups(  # another process: what it knows of the wait is in status
        kubernetes, MemoryStore(), limits="sourceMissingDeadlineSeconds: 60", now=began + dt.timedelta(seconds=59)
    )
    with pytest.raises(SourceNotFound):
        await restarted.run(body(status=kubernetes.statuses["nightly"]))
    late = backups(
        kubernetes, MemoryStore(), limits="sourceMissingDeadlineSeconds: 60", now=began + dt.timedelta(seconds=61)
    )
    await late.run(body(status=kubernetes.statuses["nightly"]))
    status = kubernetes.statuses["nightly"]
    assert status["phase"] == "failed"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "CacheClusterNotFound"
    assert "gave up after waiting 61s; limits.sourceMissingDeadlineSeconds is 60" in failed["message"]


async def test_a_source_found_again_ends_the_wait_and_a_later_absence_is_a_new_one() -> None:
    now = [CREATED]
    found = [False]

    async def snapshot() -> None:
        await workflow.run(body(status=kubernetes.statuses.get("nightly")))

    async with FakeRedis(rdb=REAL_RDB, cut_after=100) as server:

        def source() -> ResolvedSource:
            if not found[0]:
                missing()
            return single_pod(server.port)

        kubernetes = FakeKubernetes(source)
        config = "sourceMissingDeadlineSeconds: 60, snapshotAttempts: 9"
        workflow = backups(kubernetes, MemoryStore(), limits=config, clock=lambda: now[0])
        with pytest.raises(SourceNotFound):
            await snapshot()
        assert kubernetes.statuses["nightly"]["sourceMissingSince"] == "2026-05-01T12:00:00Z"
        found[0], now[0] = True, CREATED + dt.timedelta(seconds=30)
        with pytest.raises(ConnectionLost):  # found, and the snapshot fails later on: the wait is over all the same
            await snapshot()
        assert "sourceMissingSince" not in kubernetes.statuses["nightly"]
        found[0], now[0] = False, CREATED + dt.timedelta(seconds=3600)  # an hour later, briefly missing again
        with pytest.raises(SourceNotFound):
            await snapshot()
    status = kubernetes.statuses["nightly"]
    assert (status["phase"], status["sourceMissingSince"]) == ("creating", "2026-05-01T13:00:00Z")


async def test_a_node_loading_its_data_set_is_waited_for_without_counting_attempts_until_its_own_deadline() -> None:
    loading = INFO.replace(b"# Replication", b"loading:1\r\n# Replication")
    busy = {"INFO": b"$%d\r\n%s\r\n" % (len(loading), loading)}
    now = [CREATED]
    async with FakeRedis(rdb=REAL_RDB, replies=busy) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        config = "snapshotAttempts: 1, busyDeadlineSeconds: 600"
        workflow = backups(kubernetes, MemoryStore(), limits=config, clock=lambda: now[0])
        for seconds in (0, 40, 300, 599):  # one attempt allowed: a wait is not an attempt
            now[0] = CREATED + dt.timedelta(seconds=seconds)
            with pytest.raises(RedisNotReady):
                await workflow.run(body(status=kubernetes.statuses.get("nightly")))
        status = kubernetes.statuses["nightly"]
        assert (status["phase"], status["busySince"]) == ("creating", "2026-05-01T12:00:00Z")
        progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
        assert progressing["reason"] == "RedisBusy"
        assert "is loading its data set" in progressing["message"]
        assert "(waiting since 2026-05-01T12:00:00Z; limits.busyDeadlineSeconds is 600)" in progressing["message"]

        server.replies.clear()  # loaded
        await workflow.run(body(status=status))
    status = kubernetes.statuses["nightly"]
    assert status["phase"] == "available"
    assert "busySince" not in status


async def test_a_node_busy_for_longer_than_its_deadline_fails_the_backup_naming_the_wait() -> None:
    loading = INFO.replace(b"# Replication", b"loading:1\r\n# Replication")
    async with FakeRedis(rdb=REAL_RDB, replies={"INFO": b"$%d\r\n%s\r\n" % (len(loading), loading)}) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        with pytest.raises(RedisNotReady):
            await backups(kubernetes, MemoryStore(), limits="busyDeadlineSeconds: 600", now=CREATED).run(body())
        late = backups(
            kubernetes, MemoryStore(), limits="busyDeadlineSeconds: 600", now=CREATED + dt.timedelta(seconds=601)
        )
        await late.run(body(status=kubernetes.statuses["nightly"]))
    failed = next(c for c in kubernetes.statuses["nightly"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "RedisBusy"
    assert "gave up after waiting 601s; limits.busyDeadlineSeconds is 600" in failed["message"]


async def test_a_permanent_fault_fails_at_once_with_its_code() -> None:
    def ambiguous() -> None:
        raise SourceAmbiguous("the cluster has replicas, so name a node, e.g. mycluster-1")

    kubernetes = FakeKubernetes(ambiguous)  # type: ignore[arg-type]
    await backups(kubernetes, MemoryStore()).run(body())
    status = kubernetes.statuses["nightly"]
    assert status["phase"] == "failed"
    assert is_terminal(status)
    assert kubernetes.reasons() == ["Creating", "InvalidParameterCombination"]


async def test_a_connection_that_keeps_breaking_fails_after_the_configured_attempts() -> None:
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB, cut_after=100) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        workflow = backups(kubernetes, store, limits="snapshotAttempts: 2")
        with pytest.raises(ConnectionLost):
            await workflow.run(body())
        await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert kubernetes.statuses["nightly"]["phase"] == "failed"
    assert store.objects == {}, "a failed attempt leaves nothing stored"
    assert [m[0] for m in kubernetes.marks] == ["mark", "unmark", "mark", "unmark"]


async def test_a_source_marked_by_another_live_backup_waits_its_turn_and_never_fails() -> None:
    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port), holder=Holder("earlier", "uid-0"))
        workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 1")
        for _ in range(3):
            with pytest.raises(Exception, match="InvalidCacheClusterState"):
                await workflow.run(body(status=kubernetes.statuses.get("nightly")))
        assert kubernetes.statuses["nightly"]["phase"] == "creating"
        assert server.commands == []
        kubernetes.holder = None  # the other snapshot is done
        await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert kubernetes.statuses["nightly"]["phase"] == "available"


async def test_of_two_backups_with_one_snapshot_name_the_later_fails_and_the_earlier_is_untouched() -> None:
    earlier = ExistingBackup(name="first", snapshot_name="Nightly", created="2026-05-01T11:00:00Z", uid="uid-0")
    kubernetes = FakeKubernetes(lambda: pytest.fail("a duplicate must not be resolved"))
    await backups(kubernetes, MemoryStore()).run(body(), KnownPeers([earlier]))
    failed = next(c for c in kubernetes.statuses["nightly"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "SnapshotAlreadyExistsFault"
    assert 'already used by RedisBackup "first"' in failed["message"]

    later = ExistingBackup(name="second", snapshot_name="nightly", created="2026-05-01T13:00:00Z", uid="uid-9")
    store = MemoryStore()
    async with FakeRedis(rdb=REAL_RDB) as server:
        other = FakeKubernetes(lambda: single_pod(server.port))
        await backups(other, store).run(body(), KnownPeers([later]))
    assert other.statuses["nightly"]["phase"] == "available"


async def test_an_unknown_storage_location_fails_the_backup_naming_the_known_ones() -> None:
    kubernetes = FakeKubernetes(lambda: pytest.fail("not resolved"))
    await backups(kubernetes, MemoryStore()).run(body(storage="archive"))
    failed = next(c for c in kubernetes.statuses["nightly"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "StorageLocationNotFound"
    assert 'storage location "archive" is not in the operator\'s configuration (known: embedded)' in failed["message"]


async def test_a_hold_of_this_backup_by_another_live_process_is_waited_for_and_never_fails() -> None:
    other = Holder("nightly", "uid-1", "team", process="operator-old/1/9/boot/1", attempt="old")
    async with FakeRedis(rdb=REAL_RDB) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port), holder=other)
        workflow = backups(kubernetes, MemoryStore(), limits="snapshotAttempts: 1")
        for _ in range(3):
            with pytest.raises(Exception, match="by another operator process"):
                await workflow.run(body(status=kubernetes.statuses.get("nightly")))
        assert server.commands == [], "Redis is not asked while the other process is at it"
        kubernetes.holder = None  # that process is done (or gone)
        await workflow.run(body(status=kubernetes.statuses["nightly"]))
    assert kubernetes.statuses["nightly"]["phase"] == "available"


async def test_the_objects_of_an_attempt_whose_process_is_gone_are_removed_when_its_hold_is_taken_over() -> None:
    store = MemoryStore()
    dead = Holder("nightly", "uid-1", "team", process="operator-killed/1/9/boot/1", attempt="20260501T115900Z-dead")
    await store.put_bytes(f"team/nightly/uid-1/{dead.attempt}/node-0001.rdb", b"the upload a SIGKILL cut short")
    async with FakeRedis(rdb=REAL_RDB, cut_after=100) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port), replaced=dead)
        with pytest.raises(ConnectionLost):
            await backups(kubernetes, store).run(body())
    assert store.objects == {}, "neither the dead attempt's objects nor this failed attempt's are left"


async def test_the_marks_lease_is_renewed_while_the_snapshot_streams() -> None:
    big = REAL_RDB[:-9] + b"\x00" * 2_000_000 + REAL_RDB[-9:]
    async with FakeRedis(rdb=big, pause_after=1_000_000) as server:
        kubernetes = FakeKubernetes(lambda: single_pod(server.port))
        workflow = backups(kubernetes, MemoryStore())
        with patch("redisbackup.workflows.marking.RENEW_SECONDS", 0.05):
            snapshot = asyncio.create_task(workflow.run(body()))
            async with asyncio.timeout(10):
                while kubernetes.renewals < 3:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            snapshot.cancel()
            with pytest.raises(asyncio.CancelledError):
                await snapshot
    assert [m[0] for m in kubernetes.marks] == ["mark", "unmark"]
