"""Kubernetes API errors as faults: what the apiserver (or our admission webhook behind it) said, typed.

`redisbackup.k8s.api` maps every failed call through `api_fault`; nothing else sees the client's exceptions.

A webhook or CEL rejection already carries our fault code in its message (`SnapshotAlreadyExistsFault: …`, as
`redisbackup.api.cel` and the webhook write them); it is found again here so the CLI can print it the way aws
prints ElastiCache's errors.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Protocol

from redisbackup.api.faults import FaultCode
from redisbackup.domain.faults import RedisBackupError, ValidationFault
from redisbackup.k8s.rest import ApiStatusError

_CODES = "|".join(sorted((re.escape(code.value) for code in FaultCode), key=len, reverse=True))
_CODE_IN_MESSAGE = re.compile(rf"\b({_CODES}): ")


class KubernetesFault(RedisBackupError):
    """A call to the Kubernetes API failed: what the apiserver said, or that it could not be reached."""


class AccessDenied(KubernetesFault):
    code = FaultCode.ACCESS_DENIED


class Unauthenticated(AccessDenied):
    """The apiserver did not accept the credentials at all (401): an invalid, expired or revoked token."""


class KubernetesUnavailable(KubernetesFault):
    code = FaultCode.KUBERNETES_UNAVAILABLE
    transient = True


class ObjectNotFound(KubernetesUnavailable):
    """The object a call names does not exist (404); `call_or_none` turns it into None for reads."""

    transient = False


class ResourceExpired(KubernetesUnavailable):
    """A watch (or a list's continue token) asked for a resourceVersion the apiserver no longer has (410 Gone)."""


class UpdateConflict(KubernetesFault):
    """The object changed between our read and our write (optimistic concurrency): read it again and retry."""

    code = FaultCode.KUBERNETES_UNAVAILABLE
    transient = True


class StatusSuperseded(UpdateConflict):
    """While this attempt ran, another process of the operator (the other Pod of a rolling update) finished this
    RedisBackup, or its deletion began: the status is no longer this attempt's to write. Nothing is written or
    retried; the attempt ends and keeps its hands off what the other process stored."""

    transient = False


class RequestRejected(ValidationFault, KubernetesFault):
    """The apiserver refused the request: schema, CEL rule, or our admission webhook."""


class AlreadyExists(RequestRejected):
    """A create found an object of that name (for a RedisBackup: its snapshot name is taken, as ElastiCache says)."""

    code = FaultCode.SNAPSHOT_ALREADY_EXISTS


class StatusError(Protocol):
    """An error status from the apiserver: the official client's ApiException, or the REST client's
    ApiStatusError (redisbackup.k8s.rest), which carry the same three attributes."""

    status: int
    reason: str | None
    body: str | None


def client_errors() -> tuple[type[Exception], ...]:
    """The exceptions a call through either client raises when the API fails: error statuses, and connections
    that fail (OSError; urllib3's HTTPError with the official client). The official client's are looked up only
    when it has been imported (by a call that uses it): importing it costs a CLI command about a second."""
    errors: tuple[type[Exception], ...] = (ApiStatusError, OSError)
    if "kubernetes.client.exceptions" in sys.modules:
        import urllib3.exceptions
        from kubernetes.client.exceptions import ApiException

        errors += (ApiException, urllib3.exceptions.HTTPError)
    return errors


def _status_error(error: Exception) -> StatusError | None:
    official = sys.modules.get("kubernetes.client.exceptions")
    if isinstance(error, ApiStatusError) or (official is not None and isinstance(error, official.ApiException)):
        return error  # type: ignore[return-value]  # both carry status, reason and body
    return None


def _body(error: StatusError) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def api_message(error: StatusError) -> str:
    return str(_body(error).get("message") or error.reason or f"HTTP {error.status}")


def code_in(message: str) -> FaultCode | None:
    """The first of our fault codes a rejection message carries (`Code: text`), if any."""
    match = _CODE_IN_MESSAGE.search(message)
    return FaultCode(match[1]) if match else None


def _after_code(message: str) -> str:
    """A webhook rejection without the apiserver's preamble: `Code: text` → `text`."""
    match = _CODE_IN_MESSAGE.search(message)
    return message[match.end() :] if match else message


def api_fault(error: Exception, action: str) -> RedisBackupError:
    """Map a failed API call (`action`: "create RedisBackup x in namespace y") onto a fault."""
    status_error = _status_error(error)
    if status_error is not None:
        return _status_fault(status_error, action)
    if isinstance(error, client_errors()):
        return KubernetesUnavailable(
            f"cannot reach the Kubernetes API to {action} ({error.__class__.__name__}: {error}): check the "
            "kubeconfig's server address and that the cluster is up"
        )
    raise error


def _status_fault(error: StatusError, action: str) -> RedisBackupError:
    message = api_message(error)
    if error.status == 401:
        return Unauthenticated(
            f"the Kubernetes API did not accept the credentials to {action}: {message} (an invalid, expired or "
            "revoked token?)"
        )
    if error.status == 403:
        return AccessDenied(
            f"not allowed to {action}: {message}. Grant that permission (the README's Permissions section lists "
            "what the operator and the CLI need), or use a kubeconfig that has it"
        )
    if error.status == 404:
        return ObjectNotFound(f"the Kubernetes API could not {action}: {message}")
    if error.status == 410:
        return ResourceExpired(f"the Kubernetes API could not {action}: {message}")
    if error.status == 409 and _body(error).get("reason") == "Conflict":
        return UpdateConflict(f"could not {action}: it changed meanwhile ({message})")
    code = code_in(message)
    if code is not None:
        return RequestRejected(_after_code(message), code=code)
    if error.status == 409:
        return AlreadyExists(f"cannot {action}: {message}")
    if error.status in (400, 422):
        return RequestRejected(f"cannot {action}: {message}")
    return KubernetesUnavailable(f"the Kubernetes API could not {action}: {message}")


def watch_fault(status: dict[str, Any], action: str) -> RedisBackupError:
    """The fault of a watch's ERROR event (its object is a Status: 410 when the resourceVersion has expired)."""
    message = str(status.get("message") or status.get("reason") or "the watch ended with an error")
    if status.get("code") == 410 or status.get("reason") in ("Expired", "Gone"):
        return ResourceExpired(f"the Kubernetes API could not {action}: {message}")
    return KubernetesUnavailable(f"the Kubernetes API could not {action}: {message}")
