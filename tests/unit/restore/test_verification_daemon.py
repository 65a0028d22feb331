"""The verify daemon's verdict waits for the observer to record the spec edit that asked for it: the observer
writes the whole condition list from its event's body, so a Verified condition written first would be lost."""

from __future__ import annotations

import asyncio
from typing import Any

from redisbackup.workflows.verification import generation_observed, needs_verification, until_observed


def body(generation: int, observed: int | None, **spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "available"}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"generation": generation}, "spec": {"snapshotName": "s", **spec}, "status": status}


def test_a_generation_is_observed_once_status_has_caught_up_with_it() -> None:
    assert generation_observed(body(1, 1))
    assert generation_observed(body(2, 3))
    assert not generation_observed(body(3, 2)), "spec.verify was just set: generation 3, observed 2"
    assert not generation_observed(body(1, None))


async def test_the_verdict_waits_until_the_live_body_shows_the_edit_observed() -> None:
    live = body(3, 2, verify=True)  # kopf's live view of the object, which its watch updates
    assert needs_verification(live)

    waiting = asyncio.create_task(until_observed(live, poll=0.01))
    await asyncio.sleep(0.05)
    assert not waiting.done(), "nothing observed generation 3 yet"
    live["status"]["observedGeneration"] = 3  # the observer's patch, seen by kopf's watch
    await asyncio.wait_for(waiting, timeout=10)
