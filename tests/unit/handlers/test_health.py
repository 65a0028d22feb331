"""The liveness probe fails when the Kubernetes client's thread pool is wedged, and passes again once it runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import aiohttp
import kopf
import pytest

from devstack.net import free_port
from redisbackup import main
from redisbackup.k8s import api
from redisbackup.k8s.api import PoolWatch


@pytest.fixture
def wedged_pool() -> Iterator[threading.Event]:
    """Every thread of the Kubernetes client's pool stuck (as behind a call that never returns) until set."""
    release = threading.Event()
    stuck = [api._executor().submit(release.wait) for _ in range(api.THREADS)]
    try:
        yield release
    finally:
        release.set()
        for future in stuck:
            future.result(timeout=10)


async def probe(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_a_wedged_kubernetes_client_fails_the_liveness_probe(wedged_pool: threading.Event) -> None:
    # kopf's own liveness endpoint (what the chart's livenessProbe calls), serving the operator's registry.
    from kopf._core.engines.probing import health_reporter

    options = main.OperatorOptions(webhook=None, liveness_patience=0.3)
    registry = main.build_registry(options)  # starts watching the pool: a no-op waits behind the stuck threads
    url = f"http://127.0.0.1:{free_port()}/healthz"
    ready = asyncio.Event()
    reporter = asyncio.create_task(
        health_reporter(
            url, memo=kopf.Memo(), indices={}, registry=registry, settings=kopf.OperatorSettings(), ready_flag=ready
        )
    )
    try:
        await ready.wait()
        await asyncio.sleep(0.5)
        assert await probe(url) == 500, "the probe passed while no Kubernetes call could run"
        wedged_pool.set()
        await asyncio.sleep(0.2)
        assert await probe(url) == 200, "the probe fails only while the pool is stuck"
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


def test_a_busy_pool_is_not_a_stuck_one() -> None:
    watch = PoolWatch(patience=0.3)
    assert watch.stuck() is None
    time.sleep(0.4)
    assert watch.stuck() is None, "the no-op ran: the pool is healthy however long ago it was handed over"
