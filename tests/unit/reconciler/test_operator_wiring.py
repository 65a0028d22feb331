"""main.py wires our informer of RedisBackups (snapshots, deletions), kopf's handlers of the rest, and kopf's
bookkeeping under redisbackup.io."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import threading
from pathlib import Path
from typing import Any

import kopf
import pytest

from redisbackup import main
from redisbackup.api.config import OperatorConfig
from redisbackup.cli import run_operator
from redisbackup.handlers import backups as handlers
from redisbackup.handlers import final_snapshots as final_snapshot_handlers
from redisbackup.handlers import schedules as schedule_handlers
from redisbackup.handlers.backups import needs_snapshot, wants_verification
from redisbackup.workflows.uniqueness import BackupIndex


def registry() -> kopf.OperatorRegistry:
    return main.build_registry(main.OperatorOptions(webhook=None))


def kopf_selectors(built: kopf.OperatorRegistry) -> list[Any]:
    return [
        h.selector
        for kind in (built._indexing, built._watching, built._spawning, built._changing)  # admission is not watched
        for h in kind.get_all_handlers()
    ]


def test_kopf_has_no_handler_of_redisbackups_our_informer_watches_them() -> None:
    """kopf watching RedisBackups at all would put them through its per-object machinery again, and — as no kopf
    handler would require its finalizer on them — strip redisbackup.io/data from every one."""
    built = registry()
    assert [s for s in kopf_selectors(built) if s.any_name == "redisbackups" or s.plural == "redisbackups"] == []
    activities = [h.id for h in built._activities.get_all_handlers()]
    assert handlers.STARTUP_ID in activities, "the informers start with kopf"
    assert handlers.CLEANUP_ID in activities, "tasks end with the operator"
    # No kopf daemon for RedisBackups: kopf would keep the body of every one, finished ones too (workflows.background).
    assert [h.id for h in built._spawning.get_all_handlers()] == [schedule_handlers.DAEMON_ID]
    assert built._changing.get_all_handlers() == []
    assert built._indexing.get_all_handlers() == [], "kopf indexes would deadlock with a bound on its workers"
    assert [h.id for h in built._watching.get_all_handlers()] == [
        schedule_handlers.WAKE_ON_SPEC_ID,
        final_snapshot_handlers.STATEFULSET_ID,
        final_snapshot_handlers.POD_ID,
    ]
    without = main.build_registry(
        main.OperatorOptions(webhook=None, config=OperatorConfig.model_validate({"finalSnapshots": {"enabled": False}}))
    )
    assert final_snapshot_handlers.POD_ID not in [h.id for h in without._watching.get_all_handlers()]
    held = {"finalizers": ["redisbackup.io/data"]}
    for metadata, status, spawned in [
        (held, {}, True),
        (held, {"phase": "creating"}, True),
        (held, {"phase": "available"}, False),
        (held, {"phase": "failed"}, False),
        ({}, {}, False),  # not yet held: its deletion could not wait for the data it would store
        ({"finalizers": ["example.com/other"]}, {"phase": "creating"}, False),
    ]:
        assert needs_snapshot({"metadata": metadata, "status": status}) is spawned


def test_kopf_keeps_its_finalizer_and_annotations_under_redisbackup_io() -> None:
    settings = kopf.OperatorSettings()
    main.configure(settings, main.OperatorOptions(webhook=None))
    assert settings.persistence.finalizer == "redisbackup.io/data"
    progress, diffbase = settings.persistence.progress_storage, settings.persistence.diffbase_storage
    assert isinstance(progress, kopf.AnnotationsProgressStorage)
    assert progress.prefix == "redisbackup.io"
    assert isinstance(diffbase, kopf.AnnotationsDiffBaseStorage)
    assert diffbase.prefix == "redisbackup.io"
    assert settings.posting.loggers is False
    assert settings.queueing.worker_limit == 1000  # limits.eventWorkers: a larger burst queues
    assert settings.watching.chunk_size == main.LIST_PAGE_SIZE, "listed in pages: one 10,000-object list is a peak"


def test_webhook_only_operators_reconcile_nothing() -> None:
    built = main.build_registry(main.OperatorOptions(webhook=None, reconcile=False))
    assert built._spawning.get_all_handlers() == []
    assert built._changing.get_all_handlers() == []


def test_the_index_finds_snapshot_names_per_namespace_ignoring_case_and_forgets_deleted_backups() -> None:
    index = BackupIndex()

    def body(name: str, uid: str, snapshot: str, namespace: str = "team") -> dict[str, object]:
        return {"metadata": {"name": name, "uid": uid, "namespace": namespace}, "spec": {"snapshotName": snapshot}}

    index.observe(body("a", "u1", "Nightly"), deleted=False)
    index.observe(body("b", "u2", "weekly"), deleted=False)
    index.observe(body("c", "u3", "nightly", namespace="other"), deleted=False)
    peers = index.peers("team", "NIGHTLY")
    assert ([p.name for p in peers.same_name()], peers.indexed()) == (["a"], 2)
    index.observe(body("a", "u1", "Nightly"), deleted=True)
    assert (peers.same_name(), peers.indexed()) == ([], 1)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_operator.register(parser.add_subparsers())
    return parser.parse_args(["operator", "--no-webhook", *argv])


def test_the_config_file_gives_locations_namespaces_and_the_liveness_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "namespaces: [a, b]\nhealth: {host: 127.0.0.1, port: 8181}\nlimits: {maxConcurrentSnapshots: 2}\n"
    )
    options = run_operator.options_from(parse("--config", str(config)))
    assert options.namespaces == ("a", "b")
    assert options.liveness_endpoint == "http://127.0.0.1:8181/healthz"
    assert options.config.limits.max_concurrent_snapshots == 2
    flagged = run_operator.options_from(parse("--config", str(config), "-n", "c", "--liveness", "http://x:1/h"))
    assert (flagged.namespaces, flagged.liveness_endpoint) == (("c",), "http://x:1/h")


def test_a_broken_config_file_stops_the_operator_with_the_key_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("limits: {maxConcurentSnapshots: 2}\n")
    assert run_operator.handle(parse("--config", str(config))) == 2
    assert "limits.maxConcurentSnapshots is not a known setting" in capsys.readouterr().err
    assert run_operator.handle(parse("--config", str(tmp_path / "missing.yaml"))) == 2
    assert "cannot read the configuration file" in capsys.readouterr().err


def test_a_second_task_verifies_available_backups_that_ask_for_it_once() -> None:
    def body(spec: dict[str, Any], status: dict[str, Any], **metadata: Any) -> Any:
        return {"metadata": metadata, "spec": {"snapshotName": "s", **spec}, "status": status}

    available = {"phase": "available"}
    assert wants_verification(body({"verify": True}, available))
    assert not wants_verification(body({}, available))
    assert not wants_verification(body({"verify": True}, {"phase": "creating"}))
    assert not wants_verification(body({"verify": True}, {**available, "verification": {"result": "Passed"}}))
    assert not wants_verification(body({"verify": True}, available, deletionTimestamp="2026-01-01T00:00:00Z"))


def test_the_samples_are_valid_redisbackups_with_distinct_snapshot_names() -> None:
    import yaml

    from redisbackup.api.documents import check_documents

    samples = sorted(Path(__file__).resolve().parents[3].joinpath("manifests", "samples").glob("*.yaml"))
    every = [yaml.safe_load(path.read_text()) for path in samples]
    assert [r.violations for r in check_documents(every, namespace="demo")] == [[] for _ in every]
    documents = [d for d in every if d["kind"] == "RedisBackup"]
    assert len(documents) == 3
    assert {d["spec"].get("replicationGroupId") or d["spec"]["cacheClusterId"] for d in documents} == {
        "myNonClusteredRedis",
        "myReplicatedRedis-1",
        "myClusteredRedis",
    }


def all_handlers(built: kopf.OperatorRegistry) -> list[Any]:
    return [
        handler
        for kind in (built._activities, built._indexing, built._watching, built._spawning, built._changing)
        for handler in kind.get_all_handlers()
    ] + list(built._webhooks.get_all_handlers())


def test_every_handler_of_ours_runs_on_the_event_loop_not_in_kopfs_thread_pool() -> None:
    """kopf runs a `def` handler in a thread: one that changed shared state (the index the webhook iterates on the
    loop) would race with its readers — "dictionary changed size during iteration", or a missed duplicate."""
    from redisbackup.servers.webhook import WebhookOptions

    built = main.build_registry(main.OperatorOptions(webhook=WebhookOptions()))
    ours = [h for h in all_handlers(built) if h.fn is not kopf.login_via_client]
    assert {h.id for h in ours} >= {handlers.STARTUP_ID, handlers.CLEANUP_ID}
    sync = [h.id for h in ours if not inspect.iscoroutinefunction(getattr(h.fn, "func", h.fn))]
    assert sync == [], f"handlers kopf would run in a thread: {sync}"


async def test_the_index_is_changed_on_the_event_loops_thread_when_the_informer_hands_an_event_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listing runs on the Kubernetes thread pool and the watch on a thread of its own; the handler runs on the
    loop, where the webhook reads the index."""
    from redisbackup.k8s.informer import Informer

    reconciler = main.build_reconciler(main.OperatorOptions(webhook=None))
    events = handlers.register(kopf.OperatorRegistry(), reconciler)
    threads: list[threading.Thread] = []
    observe = reconciler.index.observe

    def recording(body: Any, *, deleted: bool) -> None:
        threads.append(threading.current_thread())
        observe(body, deleted=deleted)

    monkeypatch.setattr(reconciler.index, "observe", recording)
    found = {
        "metadata": {"name": "a", "uid": "u1", "namespace": "team", "finalizers": ["redisbackup.io/data"]},
        "spec": {"snapshotName": "nightly"},
        "status": {"phase": "available"},
    }

    def listing(token: str | None) -> dict[str, Any]:
        return {"items": [found], "metadata": {"resourceVersion": "1"}}

    def watching(version: str, stop: threading.Event) -> Any:
        yield {"type": "MODIFIED", "object": dict(found, metadata=dict(found["metadata"], name="b", uid="u2"))}
        stop.wait(5)

    informer = Informer("test", listing, watching, events)
    running = asyncio.create_task(informer.run())
    try:
        async with asyncio.timeout(5):
            while len(threads) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
    assert threads == [threading.current_thread()] * 2, "the index was changed outside the event loop's thread"
    assert [b.name for b in reconciler.index.peers("team", "NIGHTLY").same_name()] == ["a", "b"]


async def test_kopf_goes_on_starting_the_webhook_while_the_first_listing_runs_and_the_index_is_marked_listed_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 10,000 RedisBackups the first listing takes seconds, and so does kopf's start of the webhook server, which
    comes after the startup handlers: the startup handler must not wait for the listing, so that both run at once.
    The webhook waits for `index.listed` instead (handlers.admission)."""
    from redisbackup.handlers import backups as module

    release = threading.Event()

    def list_page(namespace: str | None, limit: int, token: str | None = None) -> dict[str, Any]:
        release.wait(10)
        body = {"metadata": {"name": "a", "uid": "u1", "namespace": "team"}, "spec": {"snapshotName": "nightly"},
                "status": {"phase": "available"}}  # fmt: skip
        return {"items": [body], "metadata": {"resourceVersion": "1"}}

    def watch_backups(namespace: str | None, version: str, timeout: int, stop: threading.Event) -> Any:
        stop.wait(10)
        return iter(())

    monkeypatch.setattr(module.redisbackups, "list_page", list_page)
    monkeypatch.setattr(module.redisbackups, "watch_backups", watch_backups)
    reconciler = main.build_reconciler(main.OperatorOptions(webhook=None))
    registry = kopf.OperatorRegistry()
    handlers.register(registry, reconciler, ("team",))
    by_id = {h.id: h.fn for h in registry._activities.get_all_handlers()}
    try:
        async with asyncio.timeout(2):
            await by_id[handlers.STARTUP_ID]()
        assert not reconciler.index.listed(), "the listing is still running"
        assert not await reconciler.index.wait_listed(0.1)
        release.set()
        assert await reconciler.index.wait_listed(5), "marked listed once the first listing is indexed"
        assert reconciler.index.count("team") == 1
    finally:
        release.set()
        await by_id[handlers.CLEANUP_ID]()
