"""The verify daemon writes its verdict at once, under its own field manager: the observer recording the edit of
spec.verify from an older view of the object keeps the Verified condition, and the verdict keeps the observer's
generation (the test of the real API server is tests/e2e/test_status_writes.py)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

from redisbackup.domain.status import mark_available, mark_observed
from redisbackup.k8s.status import FieldManager
from redisbackup.storage.base import ObjectStore
from redisbackup.storage.memory import MemoryStore
from redisbackup.workflows.verification import Verifications, needs_verification
from tests.unit.reconciler.fakes import CREATED, FakeKubernetes, body, single_pod


def available_body(generation: int, observed: int) -> dict[str, Any]:
    fields = {"numCacheNodes": 1, "size": "1 KiB", "storage": "embedded", "location": "memory:///team/nightly/uid-1/"}
    status = dict(mark_available({}, fields, generation=observed, now=CREATED).patch)
    backup = body(status=status, verify=True)
    backup["metadata"]["generation"] = generation
    return backup


async def test_the_verdict_is_written_at_once_and_an_observer_with_an_older_view_keeps_it() -> None:
    kubernetes = FakeKubernetes(lambda: single_pod(6379))
    store = MemoryStore()  # nothing stored: the verdict is SnapshotNotFoundFault, without a redis-server

    @contextlib.asynccontextmanager
    async def lease(_: str) -> AsyncIterator[ObjectStore]:
        yield store

    edited = available_body(generation=2, observed=1)  # spec.verify was just set: generation 2, observed 1
    kubernetes.statuses["nightly"] = copy.deepcopy(edited["status"])
    event_body = copy.deepcopy(edited)  # what the observer's event carries: no Verified condition yet
    assert needs_verification(edited)

    report = await asyncio.wait_for(Verifications(lease, kubernetes).run(edited), timeout=5)
    assert report is not None
    observer = kubernetes.status_writer(event_body, FieldManager.OBSERVER)
    await observer.apply(mark_observed(observer.status, generation=2))

    status = kubernetes.statuses["nightly"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Verified"]["status"], conditions["Verified"]["reason"]) == ("False", "SnapshotNotFoundFault")
    assert conditions["Ready"]["status"] == "True", "the snapshot writer's conditions stay"
    assert {c["observedGeneration"] for c in status["conditions"]} == {2}
    assert status["observedGeneration"] == 2
    assert status["verification"]["result"] == "Failed"
    assert kubernetes.managers == [FieldManager.VERIFIER, FieldManager.OBSERVER]
