"""Status writers on a real API server: each applies under its own field manager, so writers racing one another —
each with its own, older view of the object — keep every condition the others wrote, and a writer started again
(an operator restarted mid-snapshot) keeps what its manager applied before."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from devstack.cluster import Cluster
from redisbackup.domain.resolution import SourceNotFound
from redisbackup.domain.status import (
    mark_available,
    mark_creating,
    mark_observed,
    mark_progress,
    mark_verified,
    mark_waiting,
)
from redisbackup.k8s import client as product_client
from redisbackup.k8s.faults import StatusSuperseded
from redisbackup.k8s.status import FieldManager, StatusWriter
from tests.e2e.operator_support import GROUP, PLURAL, VERSION, apply, get

pytestmark = pytest.mark.e2e

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
FIELDS = {"numCacheNodes": 1, "size": "1 KiB", "totalBytes": 1024, "location": "file:///data/team/nightly/uid/"}


@pytest.fixture
def product_api(kube: Cluster) -> Iterator[None]:
    """The operator's own client (redisbackup.k8s) pointed at the test cluster."""
    product_client.select(str(kube.kubeconfig))
    yield
    product_client.select()


def writer(body: dict[str, Any], manager: FieldManager) -> StatusWriter:
    return StatusWriter(body, manager=manager, post_event=lambda _ref, _notice: None)


def conditions(body: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((body or {}).get("status") or {}).get("conditions") or []}


def created(kube: Cluster, kube_api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    apply(kube, namespace, name, snapshotName=name, cacheClusterId="cache-001")
    body = get(kube_api, namespace, name)
    assert body is not None
    return body


def creating(status: dict[str, Any], generation: int = 1) -> Any:
    return mark_creating(
        status,
        snapshot_name="nightly",
        source_field="spec.cacheClusterId",
        source_id="cache-001",
        storage="embedded",
        generation=generation,
        now=NOW,
    )


def verdict(status: dict[str, Any], passed: bool, generation: int) -> Any:
    return mark_verified(
        status,
        {"result": "Passed" if passed else "Failed", "verifyTime": "2026-05-01T12:05:00Z"},
        result="Passed" if passed else "Failed",
        reason=None if passed else "StoredObjectCorrupt",
        message="verified 1 node" if passed else "the SHA-256 differs",
        generation=generation,
        now=NOW,
    )


def test_two_writers_racing_each_from_an_older_view_keep_both_conditions(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, redisbackup_crd: str, product_api: None
) -> None:
    async def scenario() -> None:
        snapshot = writer(created(kube, kube_api, namespace, "nightly"), FieldManager.SNAPSHOT)
        await snapshot.apply(creating(snapshot.status))
        await snapshot.apply(mark_available(snapshot.status, FIELDS, generation=1, now=NOW))
        # The user sets spec.verify (generation 2): the verifier and the observer start from the same view.
        client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "nightly", {"spec": {"verify": True}}
        )
        edited = get(kube_api, namespace, "nightly")
        assert edited is not None
        assert edited["metadata"]["generation"] == 2
        verifier, observer = writer(edited, FieldManager.VERIFIER), writer(edited, FieldManager.OBSERVER)

        # The verdict lands first; the observer, whose view has no Verified condition, writes after it.
        await verifier.apply(verdict(verifier.status, passed=False, generation=2))
        await observer.apply(mark_observed(observer.status, generation=2))
        after = conditions(get(kube_api, namespace, "nightly"))
        assert after["Verified"]["reason"] == "StoredObjectCorrupt", "the observer kept the verdict it never saw"
        assert after["Verified"]["observedGeneration"] == 2
        # Then both at once, many times, each from the view its own last write answered.
        for round_ in range(10):
            stale_verifier, stale_observer = dict(verifier.status), dict(observer.status)
            await asyncio.gather(
                verifier.apply(verdict(stale_verifier, passed=round_ % 2 == 1, generation=2)),
                observer.apply(mark_observed(stale_observer, generation=2)),
            )

    asyncio.run(scenario())
    body = get(kube_api, namespace, "nightly")
    found = conditions(body)
    assert body is not None
    assert set(found) == {"Ready", "Progressing", "Failed", "Reconciling", "Verified", "Stalled"}
    assert (found["Verified"]["status"], found["Verified"]["message"]) == ("True", "verified 1 node"), (
        "the last verdict"
    )
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("True", "Available"), "the snapshot's conditions"
    assert {c["observedGeneration"] for c in found.values()} == {2}
    assert (body["status"]["observedGeneration"], body["status"]["phase"]) == (2, "available")
    assert body["status"]["verification"]["result"] == "Passed"
    managers = {(m["manager"], m["operation"]) for m in body["metadata"]["managedFields"] if m.get("subresource")}
    assert managers == {
        (m.value, "Apply") for m in (FieldManager.SNAPSHOT, FieldManager.VERIFIER, FieldManager.OBSERVER)
    }


def test_a_writer_started_again_keeps_what_its_manager_applied_and_removes_what_it_unsets(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, redisbackup_crd: str, product_api: None
) -> None:
    async def scenario() -> None:
        first = writer(created(kube, kube_api, namespace, "resumed"), FieldManager.SNAPSHOT)
        await first.apply(creating(first.status))
        # The sizes are not known yet (a diskless SYNC announces none): bytesTotal is left out, not null.
        await first.apply(mark_progress(first.status, bytes_done=512, bytes_total=None, generation=1, now=NOW))
        # The operator restarts: a new writer from the object as the API now has it.
        body = get(kube_api, namespace, "resumed")
        assert body is not None
        again = writer(body, FieldManager.SNAPSHOT)
        await again.apply(mark_waiting(again.status, SourceNotFound("no Pod cache-001 yet"), generation=1, now=NOW))
        waiting = get(kube_api, namespace, "resumed")
        assert waiting is not None
        status = waiting["status"]
        assert (status["phase"], status["storage"], status["snapshotSource"]) == ("creating", "embedded", "manual")
        assert status["progress"] == {"bytesDone": 512}
        assert conditions(waiting)["Progressing"]["reason"] == "CacheClusterNotFound"
        assert conditions(waiting)["Failed"]["reason"] == "Creating", "a condition it did not name this time stays"
        await again.apply(mark_available(again.status, FIELDS, generation=1, now=NOW))

    asyncio.run(scenario())
    body = get(kube_api, namespace, "resumed")
    assert body is not None
    assert body["status"]["phase"] == "available"
    assert "progress" not in body["status"], "a field the writer unsets is removed by the server"
    assert conditions(body)["Ready"]["status"] == "True"


def test_the_old_pods_snapshot_writer_resumed_after_the_new_one_finished_cannot_undo_available(
    kube: Cluster, kube_api: client.ApiClient, namespace: str, redisbackup_crd: str, product_api: None
) -> None:
    # Field managers are per writer, not per process: during a rolling update the old Pod's snapshot writer (frozen,
    # then resumed before its SIGTERM lands) applies under the same manager as the new Pod's. Unfenced, its stale
    # `creating` replaced the new Pod's `available`, and the backup stayed creating for ever (make faults).
    async def scenario() -> None:
        old = StatusWriter(created(kube, kube_api, namespace, "rolled"), manager=FieldManager.SNAPSHOT, fenced=True)
        old.notify = lambda _notice: None  # type: ignore[method-assign]
        await old.apply(creating(old.status))
        await old.apply(mark_progress(old.status, bytes_done=512, bytes_total=None, generation=1, now=NOW))
        body = get(kube_api, namespace, "rolled")
        assert body is not None
        new = StatusWriter(body, manager=FieldManager.SNAPSHOT, fenced=True)
        new.notify = lambda _notice: None  # type: ignore[method-assign]
        await new.apply(mark_available(new.status, FIELDS, generation=1, now=NOW))

        with pytest.raises(StatusSuperseded, match="became available by another writer"):
            await old.apply(mark_progress(old.status, bytes_done=1024, bytes_total=None, generation=1, now=NOW))
        assert old.status["phase"] == "available", "its next pass sees the backup finished and ends"
        # A write that merely raced another one (the object changed, the backup did not finish) is retried and lands.
        client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "rolled", {"spec": {"verify": True}}
        )
        assert await new.apply(mark_observed(new.status, generation=2))
        assert new.writes == 2

    asyncio.run(scenario())
    body = get(kube_api, namespace, "rolled")
    assert body is not None
    assert body["status"]["phase"] == "available"
    assert "progress" not in body["status"]
    assert (body["status"]["observedGeneration"], conditions(body)["Ready"]["status"]) == (2, "True")
