"""The one way redisbackup calls the Kubernetes API (kopf keeps its own connection for watching and patching).

Every call goes through `call` (or `call_or_none`):

- it asks for plain JSON (`_preload_content=False`): the operator works on dicts, the shape `redisbackup.domain`
  reads, and skipping the client's model classes saves most of its CPU and memory when a thousand backups run;
- it has a request timeout (`REQUEST_TIMEOUT`): an apiserver that hangs must not hold a backup, a webhook request
  or a CLI command forever;
- its errors come back as the typed faults of `redisbackup.k8s.faults` (403 AccessDenied, 404 ObjectNotFound,
  409 UpdateConflict, a refusal RequestRejected, anything else KubernetesUnavailable), mapped here and nowhere else.

The client is synchronous. Async code runs functions of these calls with `in_thread`, on a small pool of its
own: a slow apiserver never blocks the event loop, and the pool's size bounds how many requests this process has
in flight. `PoolWatch` tells the liveness probe whether that pool still runs anything at all.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from redisbackup.k8s.client import api_client
from redisbackup.k8s.faults import ObjectNotFound, api_fault, client_errors, watch_fault
from redisbackup.k8s.rest import CustomObjects, RestClient

# The official client is imported where it is used, not here: importing it takes about a second, which a CLI
# command on `RestClient` (see redisbackup.k8s.rest) never pays.
if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    import kubernetes

    Client: TypeAlias = kubernetes.client.ApiClient | RestClient
else:
    Client = object

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = (10.0, 30.0)  # connect, read: the longest one call can take is their sum
THREADS = 8

ADMISSION_THREADS = 2

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _pool(name: str, threads: int) -> ThreadPoolExecutor:
    # Made (and asyncio and concurrent.futures imported) on first use: a CLI command that calls the API once, on
    # its own thread, starts without them (CLI start-up is a `make bench` figure). Under a lock: one pool of each
    # name per process, whichever thread (event loop) asks first.
    with _pool_lock:
        if name not in _pools:
            from concurrent.futures import ThreadPoolExecutor

            _pools[name] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        return _pools[name]


def _executor() -> ThreadPoolExecutor:
    return _pool("k8s", THREADS)


def _admission_executor() -> ThreadPoolExecutor:
    # The admission webhook's own calls (its certificate and configuration at start, a namespace's count or list
    # per request) never queue behind the backups' work: an operator restarted with a hundred backups still
    # creating has hundreds of calls on the pool above at once, and the apiserver gives a webhook 10 s
    # (tests/bench/test_bench_scale).
    return _pool("k8s-admission", ADMISSION_THREADS)


def _official(client: Client | None) -> kubernetes.client.ApiClient:
    if isinstance(client, RestClient):
        raise TypeError("the REST client has custom objects only: this call needs the official client (api_client)")
    return client or api_client()


def core(client: Client | None = None) -> kubernetes.client.CoreV1Api:
    import kubernetes

    return kubernetes.client.CoreV1Api(_official(client))


def apps(client: Client | None = None) -> kubernetes.client.AppsV1Api:
    import kubernetes

    return kubernetes.client.AppsV1Api(_official(client))


def custom(client: Client | None = None) -> kubernetes.client.CustomObjectsApi | CustomObjects:
    """Custom objects, with either client: the REST client's twin has the same methods (redisbackup.k8s.rest)."""
    if isinstance(client, RestClient):
        return client.custom_objects()
    import kubernetes

    return kubernetes.client.CustomObjectsApi(_official(client))


def admissionregistration(client: Client | None = None) -> kubernetes.client.AdmissionregistrationV1Api:
    import kubernetes

    return kubernetes.client.AdmissionregistrationV1Api(_official(client))


def call(action: str, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The JSON body `method(*args, **kwargs)` answers (synchronous); `action` ("read Pod x in namespace y") names
    the call in its fault."""
    try:
        response = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        try:
            data = response.data
        finally:
            response.release_conn()
    except client_errors() as error:
        raise api_fault(error, action) from error
    body: dict[str, Any] = json.loads(data) if data else {}
    return body


def call_or_none(action: str, method: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Like `call`, but None when the object does not exist (404)."""
    try:
        return call(action, method, *args, **kwargs)
    except ObjectNotFound:
        return None


def watch(
    action: str,
    method: Callable[..., Any],
    /,
    *args: Any,
    resource_version: str,
    timeout_seconds: int,
    stop: threading.Event,
    **kwargs: Any,
) -> Iterator[dict[str, Any]]:
    """The events (`{"type": ADDED | MODIFIED | DELETED | BOOKMARK, "object": {…}}`) of a watch from
    `resource_version` (synchronous, and long: run it on a thread of its own, never on this module's pool).

    `method` is a list call (`list_namespaced_custom_object`, …), asked here for its watch. The lines are parsed
    here rather than by the client's `Watch`, which re-watches once on its own after a 410 and cannot report an
    ERROR event when not deserializing. The apiserver ends the watch after `timeout_seconds`; `stop` is looked at
    after each event (bookmarks keep them coming), so a watch nobody reads any more ends within about a minute.
    A watch whose resourceVersion is too old raises ResourceExpired: list again and watch from the list's
    resourceVersion."""
    try:
        response = method(
            *args,
            watch=True,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=(REQUEST_TIMEOUT[0], timeout_seconds + REQUEST_TIMEOUT[1]),
            **kwargs,
        )
    except client_errors() as error:
        raise api_fault(error, action) from error
    try:
        pending = b""
        for chunk in response.stream(64 * 1024, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                event: dict[str, Any] = json.loads(line)
                if event.get("type") == "ERROR":
                    raise watch_fault(event.get("object") or {}, action)
                yield event
                if stop.is_set():
                    return
    except client_errors() as error:
        raise api_fault(error, action) from error
    finally:
        response.close()
        response.release_conn()


async def in_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` (synchronous calls through this module) on the Kubernetes thread pool."""
    import asyncio

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(function, *args, **kwargs))


def in_order(function: Callable[..., T], /, *args: Any) -> Future[T]:
    """Start `function(*args)` on a thread of its own that runs what it is given one at a time, in the order given:
    the operator's Events outside kopf's handlers, whose order a reader sees (the apiserver stamps them to the
    second, so two posted within one second on the shared pool could land the other way round)."""
    return _pool("k8s-in-order", 1).submit(function, *args)


async def in_admission_thread(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`in_thread` for the admission webhook's calls, on a small pool of their own."""
    import asyncio

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_admission_executor(), functools.partial(function, *args, **kwargs))


class PoolWatch:
    """Whether the Kubernetes thread pool still runs what it is given (for the liveness probe).

    `stuck()` never blocks: it hands the pool a no-op and reports, on a later look, whether that no-op has waited
    longer than `patience`. Every call has a timeout, so a healthy pool, however busy, runs it within about
    REQUEST_TIMEOUT; one whose threads all hang (a call without a timeout, a deadlock) never does.
    """

    def __init__(self, executor: ThreadPoolExecutor | None = None, *, patience: float = 60.0) -> None:
        self._executor = executor or _executor()
        self.patience = patience
        self._lock = threading.Lock()
        # Watching starts now, not at the first probe: kopf keeps a probe's success for a while, and a pool that
        # is already stuck must not pass the first one.
        self._pending: tuple[Future[None], float] | None = (self._executor.submit(_nothing), time.monotonic())

    def stuck(self) -> float | None:
        """Seconds the pool has left a no-op waiting, when that is longer than `patience`; else None."""
        now = time.monotonic()
        with self._lock:
            if self._pending is not None:
                future, since = self._pending
                if not future.done():
                    waited = now - since
                    return waited if waited > self.patience else None
            self._pending = (self._executor.submit(_nothing), now)
        return None


def _nothing() -> None:
    return None
