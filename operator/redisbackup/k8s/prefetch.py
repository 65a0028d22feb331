"""The first listing of RedisBackups, fetched while the operator's process is still importing its libraries.

At 10,000 RedisBackups a restart is the process's start (importing kopf, the kubernetes client, aiohttp, pydantic:
seconds on a loaded machine) followed by the first listing (seconds of the apiserver's work), and the webhook waits
for that listing (tests/bench/test_bench_scale.py). `start` begins fetching its pages on a thread at once, with
the small REST client (k8s.rest: no import of the official client), before the operator imports the rest; the
informer's first listing (k8s.informer, through `lister`) then takes the pages already fetched and fetches the
remainder itself. The pages are kept as the bytes the apiserver sent (compact: ~1 MB per 500 RedisBackups) and
parsed one at a time as the informer asks for them, so one page of bodies is alive at a time as before; at most
MAX_BYTES are fetched ahead, the rest is listed as usual.

It is the same paged list the informer would make (the same limit, continue tokens, the list's resourceVersion), only
earlier: a continue token that expires meanwhile comes back as 410 Gone from the informer's own call, which lists
again. Any failure here (no kubeconfig the small client reads, the API refusing) only means no pages were fetched
ahead: the informer lists them itself. Each prefetch serves one listing once; later listings are always fresh.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 500  # RedisBackups per page of the operator's listings: one page of bodies is alive at a time
MAX_BYTES = 64 << 20  # fetched ahead at most (~30,000 RedisBackups); the informer lists the rest itself
WAIT = 60.0  # seconds the informer waits for a page the thread is fetching, before it fetches it itself

Lister = Callable[[str | None], Mapping[str, Any]]


@dataclass
class _Pages:
    """The pages of one scope's listing: the token that asks for each → its bytes, as the thread fetches them."""

    scope: str | None
    limit: int
    pages: dict[str | None, bytes] = field(default_factory=dict)
    done: bool = False  # the thread has ended (the last page, MAX_BYTES, or a failure)
    changed: threading.Condition = field(default_factory=threading.Condition)
    used: bool = False

    def fetch(self, get: Callable[[str | None], bytes]) -> None:
        token: str | None = None
        fetched = 0
        began = time.monotonic()
        try:
            while fetched < MAX_BYTES:
                data = get(token)
                with self.changed:
                    self.pages[token] = data
                    self.changed.notify_all()
                fetched += len(data)
                token = _continue_token(data)
                if token is None:
                    log.debug("fetched the first listing ahead: %d bytes in %.1fs", fetched, time.monotonic() - began)
                    break
        except Exception as error:  # the informer fetches what is missing itself, and reports its failures
            log.debug("fetching the first listing ahead stopped: %s", error)
        finally:
            with self.changed:
                self.done = True
                self.changed.notify_all()

    def take(self, token: str | None) -> bytes | None:
        """The page `token` asks for, once fetched; None when the thread will not fetch it."""
        deadline = time.monotonic() + WAIT
        with self.changed:
            while token not in self.pages and not self.done:
                if not self.changed.wait(timeout=max(0.0, deadline - time.monotonic())):
                    break
            return self.pages.pop(token, None)


def _continue_token(data: bytes) -> str | None:
    """The list's continue token without parsing its items: the apiserver writes the list's metadata last. (Should
    it not, an item's metadata is read here, which has no continue token: the fetching ahead stops, and the
    informer lists the remainder itself.)"""
    at = data.rfind(b'"metadata":{')
    if at < 0:
        return None
    try:
        metadata, _ = json.JSONDecoder().raw_decode(data[at + len(b'"metadata":') :].decode())
    except ValueError:
        return None
    token = metadata.get("continue") if isinstance(metadata, dict) else None
    return str(token) if token else None


_started: dict[tuple[str | None, int], _Pages] = {}
_lock = threading.Lock()


def start(scopes: tuple[str | None, ...], limit: int) -> None:
    """Begin fetching the first listing of each scope (a namespace; None: every namespace) in pages of `limit`."""
    try:
        from redisbackup.k8s.client import cli_client
        from redisbackup.k8s.rest import RestClient

        client = cli_client()
    except Exception as error:  # no configuration here: the operator reports it where it needs the API
        log.debug("not fetching the first listing ahead: %s", error)
        return
    if not isinstance(client, RestClient):
        return  # a kubeconfig only the official client reads: its import would cost what this saves
    for scope in scopes:
        pages = _Pages(scope, limit)
        with _lock:
            if (scope, limit) in _started:
                continue
            _started[(scope, limit)] = pages

        def get(token: str | None, scope: str | None = scope) -> bytes:
            where = f"/namespaces/{scope}" if scope is not None else ""
            query: dict[str, Any] = {"limit": limit, "continue": token}
            return client.request("GET", f"/apis/{GROUP}/{VERSION}{where}/{PLURAL}", query=query)

        threading.Thread(target=pages.fetch, args=(get,), name=f"prefetch {scope or 'all'}", daemon=True).start()


def lister(scope: str | None, limit: int, fetch: Lister) -> Lister:
    """`fetch` (one page: the continue token → the list's JSON), answered from the pages fetched ahead for the first
    listing of `scope` when `start` fetched them."""
    with _lock:
        pages = _started.get((scope, limit))
    if pages is None:
        return fetch

    def page(token: str | None) -> Mapping[str, Any]:
        if token is None:  # a new listing: only the first one may use the pages fetched ahead
            if pages.used:
                return fetch(None)
            pages.used = True
        data = pages.take(token)
        if data is None:
            return fetch(token)
        body: dict[str, Any] = json.loads(data)
        return body

    return page
