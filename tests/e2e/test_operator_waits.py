"""Waiting is not failing: a backup waits for what it needs with a deadline of its own, counted from when the wait
began — on the real control plane, with real redis-server nodes.

- A backup queued behind another snapshot of its source for longer than limits.sourceMissingDeadlineSeconds whose
  Pod is then briefly not Ready waits for it (the deadline counts from then, not from the backup's creation).
- A node loading a large data set (LOADING) is waited for until limits.busyDeadlineSeconds, not failed after
  limits.snapshotAttempts quick retries; the Progressing condition says so, and the snapshot is taken once loaded.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from kubernetes import client

from devstack import redis_nodes
from devstack.fixtures.operator import StartOperator, s3_storage
from devstack.fixtures.redis import RedisFactory
from devstack.fixtures.s3 import S3Bucket
from devstack.mirror import Mirror
from devstack.wait import wait_until
from tests.e2e.datapath_support import write_random
from tests.e2e.operator_support import assert_stored_rdb, condition, fetch_object, get, wait_for, wait_phase
from tests.fault.support import condition_of, create

pytestmark = [pytest.mark.e2e, pytest.mark.smoke]


def phase(body: dict[str, Any] | None) -> str | None:
    return ((body or {}).get("status") or {}).get("phase")


def test_a_backup_queued_longer_than_the_source_deadline_waits_for_its_pod_to_be_ready_again(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
) -> None:
    deadline = 8
    source = redis_factory.standalone(extra={"rdb-key-save-delay": "60000"})  # 60 ms per key: ~24 s per snapshot
    with source.primary.client() as c:
        write_random(c, megabytes=4)
    pods = mirror.pods(source, namespace, "cache")
    operator = start_operator(
        namespaces=[namespace], storage=s3_storage(s3), limits={"sourceMissingDeadlineSeconds": deadline}
    )
    create(kube_api, namespace, "first", cacheClusterId="cache-001")
    wait_for(kube_api, namespace, "first", lambda b: bool((b.get("status") or {}).get("nodeSnapshots")), what="planned")
    create(kube_api, namespace, "second", cacheClusterId="cache-001")  # waits its turn behind "first"
    queued_at = time.monotonic()
    wait_for(
        kube_api,
        namespace,
        "second",
        lambda b: condition_of(b, "Progressing").get("reason") == "InvalidCacheClusterState",
        what="queued behind the first snapshot",
    )
    time.sleep(max(0.0, queued_at + deadline + 2 - time.monotonic()))  # queued longer than the deadline …
    assert phase(get(kube_api, namespace, "first")) == "creating", "the first snapshot must still be running"
    mirror.set_ready(pods, "cache-001", False)  # … when its Pod goes briefly not Ready

    waiting = wait_for(
        kube_api,
        namespace,
        "second",
        lambda b: "is not Ready" in condition_of(b, "Progressing").get("message", "") or phase(b) == "failed",
        what="found its Pod not Ready",
        timeout=120,
        operator=operator,
    )
    assert phase(waiting) == "creating", condition(waiting, "Failed")
    assert waiting["status"]["sourceMissingSince"], "when the wait began is kept in status"
    assert f"limits.sourceMissingDeadlineSeconds is {deadline}" in condition(waiting, "Progressing")["message"]
    mirror.set_ready(pods, "cache-001", True)
    done = wait_phase(kube_api, namespace, "second", "available", timeout=120, operator=operator)
    assert "sourceMissingSince" not in done["status"]
    assert phase(get(kube_api, namespace, "first")) == "available"


def loading_node(factory: RedisFactory, keys: int, delay_us: int) -> redis_nodes.RedisNode:
    """A redis-server that spends `keys x delay_us` loading its data set at start, answering LOADING meanwhile."""
    seed = factory.standalone()
    with seed.primary.client() as c:
        redis_nodes.fill_mixed(c, count=keys)
        c.save()
    name = f"loading-{seed.primary.port}"
    (factory.base_dir / name).mkdir(parents=True)
    shutil.copyfile(seed.primary.data_dir / "dump.rdb", factory.base_dir / name / "dump.rdb")
    # Events (and so LOADING replies) are served between keys only every loading-process-events-interval-bytes.
    extra = {"key-load-delay": str(delay_us), "loading-process-events-interval-bytes": "1024"}
    return redis_nodes.start_node(name, factory.base_dir, extra=extra, wait=False)


def loading(node: redis_nodes.RedisNode) -> bool:
    try:
        return bool(int(node.info("persistence")["loading"]))
    except redis.exceptions.BusyLoadingError:
        return True
    except (redis.exceptions.ConnectionError, OSError):  # not answering yet
        return False


def test_a_node_loading_its_data_set_is_waited_for_and_snapshotted_once_loaded(
    kube_api: client.ApiClient,
    start_operator: StartOperator,
    namespace: str,
    mirror: Mirror,
    s3: S3Bucket,
    redis_factory: RedisFactory,
    tmp_path: Path,
) -> None:
    node = loading_node(redis_factory, keys=2000, delay_us=25_000)  # ~50 s of LOADING
    try:
        wait_until(lambda: loading(node), timeout=30, what="the node loading its data set")
        mirror.pod(node, namespace, "big")  # Ready: its readiness probe does not look at LOADING
        # Two quick attempts would fail it in seconds if waiting counted as failing.
        operator = start_operator(namespaces=[namespace], storage=s3_storage(s3), limits={"snapshotAttempts": 2})
        create(kube_api, namespace, "patient", cacheClusterId="big")
        waiting = wait_for(
            kube_api,
            namespace,
            "patient",
            lambda b: condition_of(b, "Progressing").get("reason") == "RedisBusy" or phase(b) == "failed",
            what="waited for the loading node",
            operator=operator,
        )
        assert phase(waiting) == "creating", condition(waiting, "Failed")
        assert waiting["status"]["busySince"]
        message = condition(waiting, "Progressing")["message"]
        assert "is loading its data set" in message
        assert "limits.busyDeadlineSeconds is 3600" in message
        time.sleep(15)  # well past two attempts' worth of retries (0.5 s, 1 s … with retry_after 10 s)
        assert phase(get(kube_api, namespace, "patient")) == "creating"
        assert loading(node), "the node is still loading: the backup has been waiting, not failing"

        body = wait_phase(kube_api, namespace, "patient", "available", timeout=180, operator=operator)
        assert "busySince" not in body["status"]
        (stored,) = body["status"]["nodeSnapshots"]
        rdb = fetch_object(s3, stored["objectKey"], tmp_path / "patient.rdb")
        assert_stored_rdb(rdb, stored)
        restored = redis_factory.from_rdb(rdb)
        with restored.client() as c, node.client() as source:
            assert c.dbsize() == source.dbsize() == 2000, "the whole data set, as loaded"
    finally:
        node.stop()
