"""kopf wiring only: which function handles what, and the operator's settings. No logic lives here.

`redisbackup operator` (redisbackup.cli.run_operator) builds `OperatorOptions` from flags, environment and the
configuration file (REDISBACKUP_CONFIG) and calls `run`.

RedisBackups are not kopf's: our own informer lists and watches them (handlers.backups), and keeps the finalizer
`redisbackup.io/data` on them (the stored snapshot outlives nothing it should not). kopf handles the rest and keeps
its bookkeeping under our domain, never kopf.zalando.org: the same finalizer name on RedisBackupSchedules, handler
progress and the last-handled spec as annotations `redisbackup.io/…`. kopf's own log lines are not posted as
Kubernetes Events: the operator posts one Event per status transition itself, which keeps API writes per backup low.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import kopf

from redisbackup import GROUP, VERSION
from redisbackup.api.config import OperatorConfig
from redisbackup.api.resource import DATA_FINALIZER, PLURAL, SCHEDULE_PLURAL
from redisbackup.handlers import admission, backups, final_snapshots, health, schedules
from redisbackup.k8s.api import PoolWatch
from redisbackup.local.heap import HeapTrimmer
from redisbackup.servers.metrics import Metrics
from redisbackup.servers.webhook import AdmissionServer, WebhookOptions
from redisbackup.storage.pool import StorePool
from redisbackup.workflows.backup import RedisBackupReconciler
from redisbackup.workflows.clock import WallClock
from redisbackup.workflows.final_snapshot import FinalSnapshots, LiveFinalSnapshotKubernetes
from redisbackup.workflows.schedule import LiveScheduleKubernetes, ScheduleReconciler

DOMAIN = GROUP  # redisbackup.io: the prefix of every annotation and the finalizer kopf writes for us
FINALIZER = DATA_FINALIZER  # on RedisBackups ours (workflows.backup_events), on RedisBackupSchedules kopf's
LIST_PAGE_SIZE = backups.LIST_PAGE_SIZE  # objects per page of kopf's listings too (and each re-list)
WEBHOOK_PATIENCE = 120.0  # seconds the webhook's server waits for the first listing before it listens anyway


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    """Namespaces to serve; empty: the whole cluster."""
    peering: str | None = None
    """kopf peering object name (several replicas, one active); None: standalone."""
    priority: int = 0
    liveness_endpoint: str | None = None
    webhook: WebhookOptions | None = None
    """None: no admission webhook (the CRD's schema and CEL rules still apply)."""
    verbose: bool = False
    debug: bool = False
    config: OperatorConfig = field(default_factory=OperatorConfig)
    """Storage locations, limits, ports (the configuration file)."""
    reconcile: bool = True
    """Take and delete snapshots; False serves the webhook only."""
    liveness_patience: float = 180.0
    """Seconds the Kubernetes client's thread pool may run nothing before the liveness probe fails: more than a
    call can take with its timeout and the client's retries (k8s.api.REQUEST_TIMEOUT)."""
    clock: WallClock = field(default_factory=WallClock)
    """The schedules' clock: the wall clock, or a faster one for tests (REDISBACKUP_CLOCK, workflows.clock)."""


def build_reconciler(options: OperatorOptions, metrics: Metrics | None = None) -> RedisBackupReconciler:
    return RedisBackupReconciler(
        options.config, StorePool(dict(options.config.storage.locations)), metrics or Metrics()
    )


def build_registry(options: OperatorOptions, reconciler: RedisBackupReconciler | None = None) -> kopf.OperatorRegistry:
    """Every handler of this operator: login, the admission webhook, and (unless webhook-only) the reconciler's."""
    registry = kopf.OperatorRegistry()
    if not options.reconcile:
        reconciler = None  # webhook only
    elif reconciler is None:
        reconciler = build_reconciler(options)
    # An explicit registry has none of kopf's implicit login handlers: log in as the kubernetes client does
    # (the Pod's ServiceAccount in a cluster, else KUBECONFIG), the same credentials redisbackup.k8s uses.
    kopf.on.login(registry=registry, id="login")(kopf.login_via_client)
    _register_heap_trimming(registry)
    health.register(registry, PoolWatch(patience=options.liveness_patience))
    if options.webhook is not None:
        _register_webhook(registry, reconciler)
    if reconciler is not None:
        wake_schedules = schedules.register(registry, build_schedules(options, reconciler.metrics))
        peering = backups.Peering(options.peering, options.priority) if options.peering is not None else None
        backups.register(registry, reconciler, options.namespaces, observers=[wake_schedules], peering=peering)
        if options.config.final_snapshots.enabled:
            deadline = options.config.final_snapshots.deadline_seconds
            final_snapshots.register(registry, FinalSnapshots(LiveFinalSnapshotKubernetes(), deadline_seconds=deadline))
        _register_metrics(registry, reconciler, options)
        _register_store_closing(registry, reconciler)
    return registry


def build_schedules(options: OperatorOptions, metrics: Metrics) -> ScheduleReconciler:
    metrics.schedules.now = options.clock.now
    return ScheduleReconciler(LiveScheduleKubernetes(), options.clock, metrics.schedules)


def _register_webhook(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler | None) -> None:
    """The validating webhooks; RedisBackups' reads the reconciler's index of RedisBackups when there is one."""
    kopf.on.validate(
        GROUP,
        VERSION,
        PLURAL,
        id=admission.HANDLER_ID,
        operations=["CREATE", "UPDATE"],
        persistent=True,
        side_effects=False,
        ignore_failures=False,
        registry=registry,
    )(functools.partial(admission.validate_redisbackup, index=reconciler.index if reconciler else None))
    kopf.on.validate(
        GROUP,
        VERSION,
        SCHEDULE_PLURAL,
        id=admission.SCHEDULE_HANDLER_ID,
        operations=["CREATE", "UPDATE"],
        persistent=True,
        side_effects=False,
        ignore_failures=False,
        registry=registry,
    )(admission.validate_schedule)


def _register_metrics(
    registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler, options: OperatorOptions
) -> None:
    async def serve_metrics(**_: Any) -> None:
        endpoint = options.config.metrics
        reconciler.metrics.serve(endpoint.host, endpoint.port)

    kopf.on.startup(registry=registry, id="metrics")(serve_metrics)


def _register_heap_trimming(registry: kopf.OperatorRegistry) -> None:
    # Start-up handles every object once and frees most of what that took; glibc would keep it (local.heap).
    trimmer = HeapTrimmer()

    async def start_trimming(**_: Any) -> None:
        trimmer.start()

    async def stop_trimming(**_: Any) -> None:
        await trimmer.stop()

    kopf.on.startup(registry=registry, id="trim-heap")(start_trimming)
    kopf.on.cleanup(registry=registry, id="stop-trimming-heap")(stop_trimming)


def _register_store_closing(registry: kopf.OperatorRegistry, reconciler: RedisBackupReconciler) -> None:
    async def close_stores(**_: Any) -> None:
        await reconciler.stores.close()

    kopf.on.cleanup(registry=registry, id="close-stores")(close_stores)


def configure(settings: kopf.OperatorSettings, options: OperatorOptions) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=DOMAIN)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=DOMAIN, key="last-handled-configuration"
    )
    settings.posting.loggers = False  # our Events are posted per transition (k8s.status), not per log line
    settings.posting.reporting_component = "redisbackup-operator"  # "From" in `kubectl describe`
    settings.posting.reporting_instance = socket.gethostname()  # the Pod's name in a cluster
    # A bound on the objects handled at once (kopf has none by default). No kopf index may be registered with it:
    # kopf holds every object of an indexed resource until all are indexed, which deadlocks once there are
    # more objects than workers (our index is fed by a watching handler instead: workflows.uniqueness).
    settings.queueing.worker_limit = options.config.limits.event_workers
    settings.queueing.idle_timeout = 1.0  # free a worker soon after its object goes quiet
    settings.watching.server_timeout = 300  # re-list now and then: a watch can silently stall behind proxies
    settings.watching.client_timeout = 330
    # List in pages, not in one response: at 10,000 RedisBackups one list's JSON, parsed whole, was most of the
    # start-up peak (tests/bench/test_bench_scale.py: peak 574 -> 384 MB, steady 288 -> 199 MB at load ~8).
    settings.watching.chunk_size = LIST_PAGE_SIZE
    if options.webhook is not None:
        settings.admission.server = AdmissionServer(options.webhook, handler_id=admission.HANDLER_ID)
        settings.admission.managed = None  # we write the ValidatingWebhookConfiguration ourselves (see k8s/)


def run(options: OperatorOptions) -> None:
    kopf.configure(verbose=options.verbose, debug=options.debug)
    logging.getLogger("redisbackup").setLevel(logging.DEBUG if options.debug else logging.INFO)
    settings = kopf.OperatorSettings()
    configure(settings, options)
    reconciler = build_reconciler(options) if options.reconcile else None
    registry = build_registry(options, reconciler)
    if reconciler is not None and isinstance(settings.admission.server, AdmissionServer):
        # The webhook listens once the first listing is indexed (at most WEBHOOK_PATIENCE: then requests wait for
        # it in handlers.admission, or are refused with 503).
        settings.admission.server.ready = functools.partial(reconciler.index.wait_listed, WEBHOOK_PATIENCE)
    asyncio.run(
        kopf.operator(
            registry=registry,
            settings=settings,
            standalone=options.peering is None,
            peering_name=options.peering,
            priority=options.priority,
            clusterwide=not options.namespaces,
            namespaces=options.namespaces,
            liveness_endpoint=options.liveness_endpoint,
        )
    )
