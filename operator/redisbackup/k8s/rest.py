"""A small Kubernetes REST client for custom objects, for CLI commands whose start-up is a figure of `make bench`.

`RestClient` speaks JSON over `http.client` with a `kubeconfig.Connection`, and `custom_objects()` has the methods
of the official client's CustomObjectsApi that `redisbackup.k8s` calls, with the same arguments: code written for
`api.custom(client)` runs on either client, through `api.call` (which maps `ApiStatusError` onto the same faults
as the official client's ApiException). Importing it costs the standard library's http.client and ssl (a few
milliseconds) instead of the official client's second.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from redisbackup.k8s.kubeconfig import Connection

# The official client's keyword arguments → query parameters (the ones redisbackup passes).
_QUERY = {
    "label_selector": "labelSelector",
    "field_selector": "fieldSelector",
    "limit": "limit",
    "_continue": "continue",
    "resource_version": "resourceVersion",
    "timeout_seconds": "timeoutSeconds",
    "propagation_policy": "propagationPolicy",
    "grace_period_seconds": "gracePeriodSeconds",
    "field_manager": "fieldManager",
    "dry_run": "dryRun",
}
DEFAULT_TIMEOUT = (10.0, 30.0)


class ApiStatusError(Exception):
    """The apiserver answered with an error status: `status`, `reason` and the body (a Status, as JSON text), as
    the official client's ApiException carries them."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"({status}) Reason: {reason}")
        self.status, self.reason, self.body = status, reason, body


class Response:
    """What `_preload_content=False` gives with the official client: the body in `data`, and `release_conn()`."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def release_conn(self) -> None:
        return None


class RestClient:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        parts = urlsplit(connection.server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: tuple[float, float] | float | None = None,
    ) -> bytes:
        """The response body of `method path?query` (JSON `body`); an error status raises ApiStatusError, a
        connection that fails OSError."""
        connect, read = timeout if isinstance(timeout, tuple) else (timeout or DEFAULT_TIMEOUT[0],) * 2
        target = self._prefix + path
        if query:
            target += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = {**self.connection.headers, "Accept": "application/json", "User-Agent": "redisbackup"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        connection: http.client.HTTPConnection
        if self._https:
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=connect, context=self.connection.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=connect)
        try:
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(read)
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except http.client.HTTPException as error:  # a malformed answer: the API is not usable, as a lost connection
            raise ConnectionError(f"{error.__class__.__name__}: {error}") from error
        finally:
            connection.close()
        if response.status >= 400:
            raise ApiStatusError(response.status, response.reason, data.decode(errors="replace"))
        return data

    def custom_objects(self) -> CustomObjects:
        return CustomObjects(self)


def _query(kwargs: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The query parameters and the request timeout among the official client's keyword arguments."""
    unknown = set(kwargs) - set(_QUERY) - {"_preload_content", "_request_timeout", "_content_type"}
    if unknown:
        raise TypeError(f"unsupported arguments for the REST client: {', '.join(sorted(unknown))}")
    return {_QUERY[k]: v for k, v in kwargs.items() if k in _QUERY}, kwargs.get("_request_timeout")


def _path(group: str, version: str, namespace: str | None, plural: str, *rest: str) -> str:
    where = f"/namespaces/{quote(namespace, safe='')}" if namespace is not None else ""
    tail = "".join(f"/{quote(part, safe='')}" for part in rest)
    return f"/apis/{group}/{version}{where}/{plural}{tail}"


class CustomObjects:
    """The official CustomObjectsApi's methods that redisbackup calls, with its argument order and names."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def _call(
        self, method: str, path: str, kwargs: dict[str, Any], body: Any = None, content_type: str = "application/json"
    ) -> Response:
        query, timeout = _query(kwargs)
        content_type = kwargs.get("_content_type") or content_type
        return Response(
            self._client.request(method, path, query=query, body=body, timeout=timeout, content_type=content_type)
        )

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **kwargs: Any
    ) -> Response:
        return self._call("GET", _path(group, version, namespace, plural), kwargs)

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **kwargs: Any) -> Response:
        return self._call("GET", _path(group, version, None, plural), kwargs)

    def get_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> Response:
        return self._call("GET", _path(group, version, namespace, plural, name), kwargs)

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **kwargs: Any
    ) -> Response:
        return self._call("POST", _path(group, version, namespace, plural), kwargs, body)

    def delete_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, **kwargs: Any
    ) -> Response:
        return self._call("DELETE", _path(group, version, namespace, plural, name), kwargs)

    def patch_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **kwargs: Any
    ) -> Response:
        path = _path(group, version, namespace, plural, name)
        return self._call("PATCH", path, kwargs, body, content_type="application/merge-patch+json")

    def patch_namespaced_custom_object_status(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **kwargs: Any
    ) -> Response:
        path = _path(group, version, namespace, plural, name, "status")
        return self._call("PATCH", path, kwargs, body, content_type="application/merge-patch+json")
