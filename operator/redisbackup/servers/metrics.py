"""Prometheus metrics of the operator (served on the metrics port; see `serve`).

redisbackup_backups_total{result}             backups finished: available | failed
redisbackup_backup_bytes_total                 bytes of RDB stored
redisbackup_backup_duration_seconds            from the start of the snapshot to the committed manifest
redisbackup_backups_in_flight                  snapshots streaming right now
redisbackup_snapshots_started_total            SYNC streams started (a restart must not add any for done work)
redisbackup_deletions_total{result}            deleted | retained | force_deleted
"""

from __future__ import annotations

import errno
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app, start_http_server
from prometheus_client.exposition import ThreadingWSGIServer

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
        self.snapshots_started = Counter(
            "redisbackup_snapshots_started", "Snapshot attempts that reached a Redis node.", registry=self.registry
        )
        self.deletions = Counter(
            "redisbackup_deletions",
            "RedisBackups released after deletion, by outcome.",
            ["result"],
            registry=self.registry,
        )
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
