"""Prometheus metrics of the ElastiCache API, per action and per answer code.

redisbackup_elasticache_requests_total{action, code}        requests answered: code is OK or the error code
                                                             (SnapshotNotFoundFault, AccessDenied, Throttling …)
redisbackup_elasticache_request_duration_seconds{action}    time to answer, authentication included
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from redisbackup.queryapi.actions import ACTIONS

UNKNOWN_ACTION = "-"  # a request refused before its action was known (authentication, a malformed request)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "redisbackup_elasticache_requests",
            "ElastiCache API requests answered, by action and answer code (OK or the error code).",
            ["action", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "redisbackup_elasticache_request_duration_seconds",
            "Time to answer an ElastiCache API request, by action.",
            ["action"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        for action in ACTIONS:  # every served action shows up at 0 from the start, so rates work at once
            self.requests.labels(action=action, code="OK")

    def observe(self, action: str | None, code: str, seconds: float) -> None:
        label = action if action in ACTIONS else UNKNOWN_ACTION
        self.requests.labels(action=label, code=code).inc()
        self.duration.labels(action=label).observe(seconds)
