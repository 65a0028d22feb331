"""The exception hierarchy every layer raises.

Callers catch at the level they care about (`StorageFault`, or any `RedisBackupError`). Each fault carries its
code (ElastiCache's name where one exists) and whether trying again can help; the handlers map `transient` onto
kopf's TemporaryError/PermanentError, so retry policy is decided here, once, and never inline in a handler.
"""

from __future__ import annotations

from redisbackup.api.faults import FaultCode


class RedisBackupError(Exception):
    """Base of every fault this project raises on purpose."""

    code: FaultCode = FaultCode.INVALID_PARAMETER_VALUE
    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: FaultCode | None = None,
        field: str | None = None,
        transient: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if transient is not None:
            self.transient = transient
        self.field = field
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InternalFailure(RedisBackupError):
    """A failure no fault describes (a bug): retried like a transient fault, then reported; never only logged."""

    code = FaultCode.INTERNAL_FAILURE
    transient = True

    @classmethod
    def of(cls, error: BaseException, doing: str) -> InternalFailure:
        return cls(
            f"unexpected {type(error).__name__} while {doing}: {error}. This is a bug in redisbackup: please report "
            "it with the operator's log, which has the traceback"
        )


class ValidationFault(RedisBackupError):
    """The request itself is wrong; retrying the same request cannot succeed."""

    code = FaultCode.INVALID_PARAMETER_VALUE


class InvalidSnapshotState(ValidationFault):
    """The snapshot is not in a state that allows the request (e.g. restoring or deleting one being created)."""

    code = FaultCode.INVALID_SNAPSHOT_STATE


class SourceFault(RedisBackupError):
    """The Redis workload named as the source is missing, ambiguous or not in a state to be snapshotted."""

    code = FaultCode.CACHE_CLUSTER_NOT_FOUND


class SnapshotFault(RedisBackupError):
    """Reading the RDB from a Redis node failed or produced data that does not verify."""

    code = FaultCode.CONNECTION_LOST


class RestoreFault(RedisBackupError):
    """The target of a restore (a data directory, a set of new Redis nodes) is not fit to receive the snapshot."""

    code = FaultCode.RESTORE_FAILED


class StorageFault(RedisBackupError):
    """The object store refused or could not be reached."""

    code = FaultCode.STORAGE_UNAVAILABLE
    transient = True
