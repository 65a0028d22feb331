"""Prometheus metrics of the operator (served on the metrics port; see `serve`).

redisbackup_backups_total{result}             backups finished: available | failed
redisbackup_backup_bytes_total                 bytes of RDB stored
redisbackup_backup_duration_seconds            from the start of the snapshot to the committed manifest
redisbackup_backups_in_flight                  snapshots streaming right now
redisbackup_backups_queued                     snapshots waiting for a slot (limits.maxConcurrentSnapshots)
redisbackup_snapshots_started_total            SYNC streams started (a restart must not add any for done work)
redisbackup_deletions_total{result}            deleted | retained | force_deleted

Per RedisBackupSchedule that is running (not suspended, not turned off, spec valid):
redisbackup_schedule_seconds_since_last_success{namespace,schedule}
                                               since the slot of its newest available automated backup (since the
                                               schedule was created while it has none)
redisbackup_schedule_interval_seconds{namespace,schedule}
                                               between its runs (the longer of the gap between slots it is in and the
                                               one before: a weekday schedule's weekend counts as three days); the
                                               chart's PrometheusRule alerts when the first exceeds twice the second
redisbackup_schedule_last_success_timestamp_seconds{namespace,schedule}
"""

from __future__ import annotations

import datetime as dt
import errno
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

# Snapshots run from well under a second (a small node) to hours (a large cluster on a slow link).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, float("inf"))


class Metrics:
    """A registry of its own, so tests can create several without clashing in the global one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.backups = Counter(
            "redisbackup_backups",
            "RedisBackups that reached a terminal phase, by result.",
            ["result"],
            registry=self.registry,
        )
        self.bytes = Counter("redisbackup_backup_bytes", "Bytes of RDB stored by snapshots.", registry=self.registry)
        self.duration = Histogram(
            "redisbackup_backup_duration_seconds",
            "Time from the start of a snapshot to its committed manifest.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "redisbackup_backups_in_flight", "Snapshots streaming from Redis right now.", registry=self.registry
        )
        self.queued = Gauge(
            "redisbackup_backups_queued",
            "Snapshots (and copies) waiting for a slot of limits.maxConcurrentSnapshots.",
            registry=self.registry,
        )
        self.snapshots_started = Counter(
            "redisbackup_snapshots_started", "Snapshot attempts that reached a Redis node.", registry=self.registry
        )
        self.deletions = Counter(
            "redisbackup_deletions",
            "RedisBackups released after deletion, by outcome.",
            ["result"],
            registry=self.registry,
        )
        self.schedules = ScheduleMetrics(self.registry)
        for result in ("available", "failed"):
            self.backups.labels(result=result)
        for result in ("deleted", "retained", "force_deleted"):
            self.deletions.labels(result=result)

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on host:port in a background thread (port 0: not at all); host "": every address, IPv4 and
        IPv6 (one socket, IPV6_V6ONLY off), or every IPv4 address where the kernel has no IPv6."""
        if not port:
            return
        if host:
            start_http_server(port, addr=host, registry=self.registry)
            return
        try:
            server = make_server("::", port, make_wsgi_app(self.registry), _DualStackServer, handler_class=_Quiet)
        except OSError as error:
            if error.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            start_http_server(port, addr="0.0.0.0", registry=self.registry)
            return
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


class _DualStackServer(ThreadingWSGIServer):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # IPv4 clients arrive as IPv4-mapped addresses on the same socket, whatever net.ipv6.bindv6only says.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not worth a log line each."""


@dataclass(frozen=True)
class _ScheduleSeries:
    last_success: dt.datetime
    interval_seconds: float


class ScheduleMetrics(Collector):
    """The schedules' series, computed when Prometheus scrapes (seconds since … needs the time of the scrape)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        """The schedules' clock (workflows.clock), set by the operator's wiring."""
        self._series: dict[tuple[str, str], _ScheduleSeries] = {}
        self._lock = threading.Lock()  # scrapes run in the HTTP server's thread
        registry.register(self)

    def observe(self, namespace: str, schedule: str, *, last_success: dt.datetime, interval_seconds: float) -> None:
        with self._lock:
            self._series[(namespace, schedule)] = _ScheduleSeries(last_success, interval_seconds)

    def forget(self, namespace: str, schedule: str) -> None:
        with self._lock:
            self._series.pop((namespace, schedule), None)

    def describe(self) -> list[Metric]:
        return []  # no fixed series: nothing to check for clashes at registration

    def collect(self) -> Iterator[Metric]:
        labels = ["namespace", "schedule"]
        since = GaugeMetricFamily(
            "redisbackup_schedule_seconds_since_last_success",
            "Seconds since the slot of the schedule's newest available automated backup (or since its creation).",
            labels=labels,
        )
        interval = GaugeMetricFamily(
            "redisbackup_schedule_interval_seconds",
            "Seconds between the schedule's runs: the longer of the current gap between slots and the one before it.",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "redisbackup_schedule_last_success_timestamp_seconds",
            "Slot of the schedule's newest available automated backup, in Unix seconds.",
            labels=labels,
        )
        now = self.now()
        with self._lock:
            series = sorted(self._series.items())
        for (namespace, schedule), entry in series:
            since.add_metric([namespace, schedule], max(0.0, (now - entry.last_success).total_seconds()))
            interval.add_metric([namespace, schedule], entry.interval_seconds)
            last.add_metric([namespace, schedule], entry.last_success.timestamp())
        yield since
        yield interval
        yield last
