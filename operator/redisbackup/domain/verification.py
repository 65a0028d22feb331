"""The result of verifying a stored snapshot, and its shape in a RedisBackup's status (status.verification)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from redisbackup.api.status import NodeVerification, Verification, VerificationResult
from redisbackup.domain.faults import RedisBackupError

PASSED: VerificationResult = "Passed"
FAILED: VerificationResult = "Failed"
UNKNOWN: VerificationResult = "Unknown"  # no local reader understands the RDB: no verdict


@dataclass(frozen=True)
class NodeCheck:
    """One node's (or shard's) RDB: checked against the manifest, by redis-check-rdb, and loaded."""

    id: str
    clustered: bool
    result: VerificationResult
    keys: int = 0  # loaded into the throwaway server, over all databases
    expires: int = 0  # of those, keys with a TTL
    keys_per_database: dict[int, int] = field(default_factory=dict)
    written_by: str | None = None  # the engine and version recorded in the RDB
    loader: str | None = None  # the reader that checked and loaded it, e.g. "valkey 8.1.1"
    fault: RedisBackupError | None = None


@dataclass(frozen=True)
class VerificationReport:
    snapshot_name: str
    verified_at: dt.datetime
    loader: str  # "redis 7.0.15": the server(s) that loaded the RDBs
    nodes: tuple[NodeCheck, ...]

    @property
    def passed(self) -> bool:
        return all(node.result == PASSED for node in self.nodes)

    @property
    def result(self) -> VerificationResult:
        """Failed when any node failed (a verdict); else Unknown when any could not be judged; else Passed."""
        results = {node.result for node in self.nodes}
        if FAILED in results:
            return FAILED
        return UNKNOWN if UNKNOWN in results else PASSED

    @property
    def fault(self) -> RedisBackupError | None:
        """The first failure's fault, else the first reason for an Unknown."""
        failed = next((node.fault for node in self.nodes if node.result == FAILED and node.fault is not None), None)
        return failed or next((node.fault for node in self.nodes if node.fault is not None), None)

    @property
    def keys(self) -> int:
        return sum(node.keys for node in self.nodes)

    @property
    def summary(self) -> str:
        """One sentence for a condition message or an Event."""
        count = len(self.nodes)
        what = f"{count} {'shard' if self.nodes and self.nodes[0].clustered else 'node'}{'s' if count != 1 else ''}"
        if self.passed:
            return (
                f"verified {what} with {self.loader}: every RDB matches its manifest, passes redis-check-rdb and "
                f"loads ({self.keys} keys)"
            )
        fault = self.fault
        reason = f": {fault.message}" if fault else ""
        if self.result == UNKNOWN:
            unknown = [node.id for node in self.nodes if node.result == UNKNOWN]
            return f"could not verify {what} (no verdict for {', '.join(unknown)}){reason}"
        failed = [node.id for node in self.nodes if node.result == FAILED]
        return f"verification of {what} failed for {', '.join(failed)}{reason}"


def _node_status(node: NodeCheck) -> NodeVerification:
    ids = {"node_group_id": node.id} if node.clustered else {"cache_node_id": node.id}
    passed = node.result == PASSED
    return NodeVerification(
        **ids,
        result=node.result,
        keys=node.keys if passed else None,
        expires=node.expires if passed else None,
        reason=str(node.fault.code) if node.fault else None,
        message=node.fault.message[:4096] if node.fault else None,
    )


def verification_status(report: VerificationReport) -> dict[str, Any]:
    """status.verification (camelCase JSON) for `report`."""
    fault = report.fault
    verification = Verification(
        result=report.result,
        verify_time=report.verified_at,
        keys=report.keys if report.passed else None,
        loader=report.loader,
        reason=str(fault.code) if fault else None,
        message=fault.message[:4096] if fault else None,
        nodes=[_node_status(node) for node in report.nodes],
    )
    dumped: dict[str, Any] = verification.model_dump(by_alias=True, exclude_none=True, mode="json")
    dumped["verifyTime"] = report.verified_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dumped
