"""The Redis page and its Create Backup dialog: the seed's console path.

    Redis → tick the box left of a cluster → Backup → type a Backup Name → Create Backup

The dialog is a page of its own (the Redis list behind it, inert), so the path works without JavaScript; the
script makes it modal and checks the name as it is typed, with the rules and messages the server sends it from
`redisbackup.api.naming`. On submit the server checks the name again, then creates the backup through the core
(`elasticache.snapshots.create_snapshot`, as the visitor): a refusal — the apiserver's, the webhook's, the
operator's — is shown in the dialog, word for word.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from redisbackup.api.naming import SNAPSHOT_NAME, suggested_snapshot_name
from redisbackup.console import queries
from redisbackup.console.context import PREFIX, console_of, refusal_status, render, see_other, visitor_of
from redisbackup.console.rows import RedisRow, SourceChoice
from redisbackup.console.visitors import Visitor
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache import snapshots
from redisbackup.elasticache.snapshots import NewSnapshot

routes = web.RouteTableDef()
# Plain YAML scalars the live preview replaces. A valid name never needs escaping, but "yes" or "1e3" unquoted
# would be read as something else than a string, so the preview always quotes them.
_SNAPSHOT_MARK, _OBJECT_MARK, _SOURCE_MARK = "zzsnapshotnamezz", "zzobjectnamezz", "zzsourcezz"


def namespace_of(request: web.Request, visitor: Visitor) -> str:
    chosen = request.query.get("namespace") or ""
    return chosen.strip() or visitor.home_namespace or console_of(request).settings.default_namespace


async def _page(request: web.Request, namespace: str) -> dict[str, Any]:
    """The Redis list (and the namespaces to offer), or the refusal that stands in for it."""
    visitor = visitor_of(request)
    offered, _ = await queries.namespaces(visitor, console_of(request).settings.default_namespace, namespace)
    rows: list[RedisRow] = []
    problem = None
    try:
        rows = await queries.redis_of(visitor.caller(namespace))
    except RedisBackupError as fault:
        problem = fault.message
    return {"namespace": namespace, "namespaces": offered, "rows": rows, "problem": problem, "title": "Redis"}


@routes.get(f"{PREFIX}/redis")
async def redis_page(request: web.Request) -> web.Response:
    namespace = namespace_of(request, visitor_of(request))
    context = await _page(request, namespace)
    created = request.query.get("created")
    if created:
        context["notice"] = (
            f"Creating backup {created}. The cluster shows snapshotting while it runs; the backup is complete when "
            "its status on the Backups page is available."
        )
    return render(request, "redis.html", active="redis", dialog=None, **context)


@dataclass(frozen=True)
class Dialog:
    row: RedisRow
    source: SourceChoice
    name: str
    name_problems: list[str]
    problem: str | None
    yaml: list[tuple[str, str | None]]


def backup_yaml(namespace: str, source: SourceChoice, name: str) -> list[tuple[str, str | None]]:
    """The RedisBackup Create Backup applies, as (text, binding) parts: the script keeps the bound parts equal
    to the name being typed and the source chosen."""
    marked = NewSnapshot(snapshot_name=_SNAPSHOT_MARK, cache_cluster_id=_SOURCE_MARK).redisbackup()
    marked["metadata"] = {"name": _OBJECT_MARK, "namespace": namespace}
    text = yaml.safe_dump(marked, sort_keys=False)
    values = {
        _SNAPSHOT_MARK: (f'"{name}"', "snapshot-name"),
        _OBJECT_MARK: (f'"{name.lower()}"', "object-name"),
        f"cacheClusterId: {_SOURCE_MARK}": (f'{source.parameter}: "{source.id}"', "source"),
    }
    pieces = re.split("(" + "|".join(re.escape(mark) for mark in values) + ")", text)
    return [values.get(piece, (piece, None)) for piece in pieces if piece]


def new_snapshot(source: SourceChoice, name: str) -> NewSnapshot:
    if source.parameter == "cacheClusterId":
        return NewSnapshot(snapshot_name=name, cache_cluster_id=source.id)
    return NewSnapshot(snapshot_name=name, replication_group_id=source.id)


def _dialog(
    row: RedisRow, source: SourceChoice, namespace: str, name: str, problems: list[str], problem: str | None
) -> Dialog:
    return Dialog(row, source, name, problems, problem, backup_yaml(namespace, source, name))


def _chosen(rows: list[RedisRow], ticked: list[str]) -> RedisRow | str:
    if len(ticked) != 1:
        return "Choose the box to the left of the name of one Redis cluster, then choose Backup."
    row = next((row for row in rows if row.id == ticked[0]), None)
    return row or f"There is no Redis cluster {ticked[0]} in this namespace (any more): choose another one."


@routes.get(f"{PREFIX}/redis/create-backup")
async def create_backup_dialog(request: web.Request) -> web.Response:
    namespace = namespace_of(request, visitor_of(request))
    context = await _page(request, namespace)
    chosen = _chosen(context["rows"], request.query.getall("cluster", []))
    if isinstance(chosen, str):
        context["problem"] = context["problem"] or chosen
        return render(request, "redis.html", status=400, active="redis", dialog=None, **context)
    source = chosen.source(request.query.get("source")) or chosen.sources[0]
    name = suggested_snapshot_name(chosen.id, dt.datetime.now(dt.UTC))
    dialog = _dialog(chosen, source, namespace, name, [], None)
    return render(request, "redis.html", active="redis", dialog=dialog, **context)


@routes.post(f"{PREFIX}/redis/create-backup")
async def create_backup(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    form = await request.post()
    namespace = str(form.get("namespace") or "") or namespace_of(request, visitor)
    context = await _page(request, namespace)
    chosen = _chosen(context["rows"], [str(form.get("cluster") or "")])
    if isinstance(chosen, str):
        context["problem"] = chosen
        return render(request, "redis.html", status=400, active="redis", dialog=None, **context)
    source = chosen.source(str(form.get("source") or "") or None)
    name = str(form.get("snapshot_name") or "")
    if source is None:
        dialog = _dialog(chosen, chosen.sources[0], namespace, name, [], "Choose what to back up from the list.")
        return render(request, "redis.html", status=422, active="redis", dialog=dialog, **context)
    problems = [SNAPSHOT_NAME.message(rule) for rule in SNAPSHOT_NAME.broken_rules(name)]
    if problems:
        dialog = _dialog(chosen, source, namespace, name, problems, None)
        return render(request, "redis.html", status=422, active="redis", dialog=dialog, **context)
    try:
        await snapshots.create_snapshot(
            visitor.caller(namespace),
            new_snapshot(source, name),
            accept_timeout=console_of(request).settings.accept_timeout,
        )
    except RedisBackupError as fault:
        dialog = _dialog(chosen, source, namespace, name, [], f"{fault.code}: {fault.message}")
        return render(request, "redis.html", status=refusal_status(fault), active="redis", dialog=dialog, **context)
    query = urllib.parse.urlencode({"namespace": namespace, "created": name})
    raise see_other(f"{PREFIX}/redis?{query}")
