"""Server-sent events that keep the Redis and Backups pages current, fed by Kubernetes watches as the visitor.

    /console/live/backups?namespace=&status=&page=   page {rows, keys, summary} · upsert {key, html} · remove {key}
    /console/live/redis?namespace=                   statuses {row id: status}

On (re)connecting, a stream lists what it watches and sends the page's rows afresh (so a browser that was away
misses nothing), then one event per change. Rows are rendered by the same template macro as the page itself.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from redisbackup import GROUP, VERSION
from redisbackup.api.resource import PLURAL
from redisbackup.console import queries
from redisbackup.console.backups_page import Filters, page_of, row_of
from redisbackup.console.context import PREFIX, console_of, visitor_of
from redisbackup.console.live_streams import WATCH_SECONDS, Changed, Feed, Idle, Listed, TooManyStreams
from redisbackup.console.redis_page import namespace_of
from redisbackup.console.rows import BackupRow, live_statuses
from redisbackup.console.visitors import Visitor
from redisbackup.domain.cache_clusters import RedisWorkloads
from redisbackup.domain.faults import RedisBackupError
from redisbackup.k8s import api

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
RETRY_MS = 5000


def _feed(action: str, lister: Callable[..., Any], *args: Any) -> Feed:
    def list_all() -> dict[str, Any]:
        return api.call(f"list {action}", lister, *args)

    def watch(version: str, stop: threading.Event) -> Iterator[dict[str, Any]]:
        return api.watch(
            f"watch {action}", lister, *args, resource_version=version, timeout_seconds=WATCH_SECONDS, stop=stop
        )

    return Feed(list_all, watch)


def _backup_feeds(visitor: Visitor, scope: tuple[str, ...] | None) -> list[Feed]:
    custom = api.custom(visitor.client)
    if scope is None:
        return [_feed("RedisBackups", custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)]
    return [
        _feed(f"RedisBackups in namespace {ns}", custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL)
        for ns in scope
    ]


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    return response


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


def _row_html(request: web.Request, row: BackupRow) -> str:
    macro = console_of(request).templates.get_template("_rows.html").module.backup_row  # type: ignore[attr-defined]
    return str(macro(row))


@routes.get(f"{PREFIX}/live/backups")
async def live_backups(request: web.Request) -> web.StreamResponse:
    console, visitor = console_of(request), visitor_of(request)
    filters = Filters.of(request.query)
    offered, _ = await queries.namespaces(visitor, console.settings.default_namespace, filters.namespace or None)
    try:
        visible = await queries.visible_backups(visitor, filters.namespace or None, offered)
    except RedisBackupError as fault:
        return web.Response(status=403, text=fault.message)
    try:
        async with console.streams.opened(visitor.user) as stop:
            response = await _open(request)
            bodies: dict[str, dict[str, Any]] = {}
            try:
                async for update in console.streams.follow(_backup_feeds(visitor, visible.scope), stop):
                    if isinstance(update, Listed):
                        bodies = {_key(body): body for items in update.items for body in items}
                        page = page_of(visitor, list(bodies.values()), filters, console.settings.page_size)
                        summary = _summary(page.first, len(page.rows), page.total)
                        rows = [{"key": row.key, "html": _row_html(request, row)} for row in page.rows]
                        await _send(response, "page", {"rows": rows, "summary": summary})
                    elif isinstance(update, Changed):
                        key = _key(update.object)
                        if update.type == "DELETED" or not filters.selects(update.object):
                            bodies.pop(key, None)
                            await _send(response, "remove", {"key": key})
                        else:
                            bodies[key] = update.object
                            html = _row_html(request, row_of(visitor, update.object))
                            await _send(response, "upsert", {"key": key, "html": html})
                    elif isinstance(update, Idle):
                        await response.write(b": keep-alive\n\n")
            except (ConnectionResetError, RedisBackupError) as ended:
                log.debug("Backups stream of %s ended: %s", visitor.user, ended)
            return response
    except TooManyStreams as refused:
        return web.Response(status=429, text=f"{refused}\n")


def _key(body: dict[str, Any]) -> str:
    metadata = body.get("metadata") or {}
    return f"{metadata.get('namespace')}/{metadata.get('name')}"


def _summary(first: int, shown: int, total: int) -> str:
    if total == 0:
        return "No backups"
    return f"Showing {first} to {first + shown - 1} of {total} backups"


@routes.get(f"{PREFIX}/live/redis")
async def live_redis(request: web.Request) -> web.StreamResponse:
    console, visitor = console_of(request), visitor_of(request)
    namespace = namespace_of(request, visitor)
    feeds = [
        _feed(f"Pods in namespace {namespace}", api.core(visitor.client).list_namespaced_pod, namespace),
        _feed(
            f"StatefulSets in namespace {namespace}", api.apps(visitor.client).list_namespaced_stateful_set, namespace
        ),
    ]
    try:
        async with console.streams.opened(visitor.user) as stop:
            response = await _open(request)
            objects: list[dict[str, dict[str, Any]]] = [{}, {}]
            sent: dict[str, str] = {}
            try:
                async for update in console.streams.follow(feeds, stop):
                    if isinstance(update, Listed):
                        objects = [{_key(body): body for body in items} for items in update.items]
                    elif isinstance(update, Changed):
                        key = _key(update.object)
                        if update.type == "DELETED":
                            objects[update.feed].pop(key, None)
                        else:
                            objects[update.feed][key] = update.object
                    else:
                        await response.write(b": keep-alive\n\n")
                        continue
                    statuses = live_statuses(RedisWorkloads.of(list(objects[0].values()), list(objects[1].values())))
                    if statuses != sent:
                        sent = statuses
                        await _send(response, "statuses", statuses)
            except (ConnectionResetError, RedisBackupError) as ended:
                log.debug("Redis stream of %s ended: %s", visitor.user, ended)
            return response
    except TooManyStreams as refused:
        return web.Response(status=429, text=f"{refused}\n")
