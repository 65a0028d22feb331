"""What goes wrong on the wire: a code, a message and an HTTP status, as ElastiCache's Query API answers.

Two sources. The protocol's own errors (authentication, a malformed request, an unknown action) are raised here as
`QueryError` with AWS's common codes. ElastiCache's faults come from the core as `RedisBackupError`s and are mapped
by `wire_error`: a code the service model knows gets the model's HTTP status; our own codes (AccessDenied, a
Kubernetes API that is down …) get theirs. A client's mistake is always a 4xx: the aws CLI retries a 5xx five
times, so a 5xx is kept for what is really the server's side (the Kubernetes API unreachable, a bug).
"""

from __future__ import annotations

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s.faults import ObjectNotFound
from redisbackup.queryapi.model import modelled_error


class QueryError(Exception):
    """An error answer: `<ErrorResponse><Error><Type/><Code/><Message/></Error>…` with `status`."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def sender(self) -> bool:
        return self.status < 500

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.message}"


# AWS's common errors of Query APIs (the ones every service answers the same way).
def missing_authentication(message: str = "Request is missing Authentication Token") -> QueryError:
    return QueryError("MissingAuthenticationToken", message, status=403)


def incomplete_signature(message: str) -> QueryError:
    return QueryError("IncompleteSignature", message, status=400)


def invalid_client_token(message: str = "The security token included in the request is invalid.") -> QueryError:
    return QueryError("InvalidClientTokenId", message, status=403)


def signature_mismatch(message: str) -> QueryError:
    return QueryError("SignatureDoesNotMatch", message, status=403)


def access_denied(message: str) -> QueryError:
    return QueryError("AccessDenied", message, status=403)


def malformed(message: str) -> QueryError:
    return QueryError("MalformedQueryString", message, status=400)


def missing_parameter(message: str) -> QueryError:
    return QueryError("MissingParameter", message, status=400)


def invalid_parameter(message: str) -> QueryError:
    return QueryError("InvalidParameterValue", message, status=400)


def throttled(message: str = "Rate exceeded") -> QueryError:
    # 400 with code Throttling, as AWS answers: botocore recognises the code and backs off before retrying.
    return QueryError("Throttling", message, status=400)


# Our own codes that are not a client's mistake, and the status that says so.
_OWN_STATUS = {
    FaultCode.ACCESS_DENIED: 403,
    FaultCode.KUBERNETES_UNAVAILABLE: 503,
    FaultCode.STORAGE_UNAVAILABLE: 503,
}


def wire_error(fault: RedisBackupError) -> QueryError:
    """The answer for a fault of the core: the model's code and status, else ours (4xx unless it is our side)."""
    if isinstance(fault, ObjectNotFound):  # e.g. the key's namespace does not exist: nothing to retry
        return QueryError("ResourceNotFound", fault.message, status=404)
    spec = modelled_error(fault.code.value)
    if spec is not None:
        return QueryError(spec.code, fault.message, status=spec.status)
    return QueryError(fault.code.value, fault.message, status=_OWN_STATUS.get(fault.code, 400))
