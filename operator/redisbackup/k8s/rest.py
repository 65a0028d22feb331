"""Calling the kubernetes client for plain JSON, off the event loop.

The operator reads Pods, StatefulSets and Secrets as plain dicts (the shape `redisbackup.domain` works on) rather
than the client's model classes: `_preload_content=False` skips their deserialisation, which is most of the
client's CPU and memory cost when a thousand backups run. The client is synchronous; `run` moves each call to a
small dedicated thread pool so a slow apiserver never blocks kopf's event loop, and the pool's size bounds how
many requests this operator has in flight at once.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = (10.0, 30.0)  # connect, read: an apiserver that hangs must not hold a backup forever

_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="k8s")


async def run(call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(call, *args, **kwargs))


def fetch(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The JSON body of a read/list/patch call (synchronous; use through `run`)."""
    response = call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
    try:
        body: dict[str, Any] = json.loads(response.data)
    finally:
        response.release_conn()
    return body


def fetch_or_none(call: Callable[..., Any], /, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """Like `fetch`, but None when the object does not exist (404)."""
    try:
        return fetch(call, *args, **kwargs)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def is_conflict(error: BaseException) -> bool:
    return isinstance(error, ApiException) and error.status == 409


def is_not_found(error: BaseException) -> bool:
    return isinstance(error, ApiException) and error.status == 404
