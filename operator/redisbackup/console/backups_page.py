"""The Backups page: every RedisBackup the visitor may see, newest first, filtered by namespace and status, a page
at a time; it updates itself from a watch (`console.live`).

A thousand backups are listed in one call and filtered and sorted in memory (Kubernetes lists cannot sort by
time); only the page shown is turned into the core's Snapshot documents and rows.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from redisbackup.console import queries
from redisbackup.console.context import PREFIX, console_of, render, visitor_of
from redisbackup.console.rows import STATUSES, BackupRow, backup_row, newest_first, phase_of
from redisbackup.console.visitors import Visitor
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache import snapshots

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Filters:
    namespace: str
    status: str
    page: int

    @classmethod
    def of(cls, query: Mapping[str, str]) -> Filters:
        status = query.get("status", "")
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(query.get("namespace", "").strip(), status if status in STATUSES else "", page)

    def selects(self, body: Mapping[str, Any]) -> bool:
        namespace = (body.get("metadata") or {}).get("namespace")
        return (not self.namespace or namespace == self.namespace) and (
            not self.status or phase_of(body) == self.status
        )

    def query(self, **changes: Any) -> str:
        values = {"namespace": self.namespace, "status": self.status, "page": self.page, **changes}
        return urllib.parse.urlencode({k: v for k, v in values.items() if v not in ("", None, 1)})


def row_of(visitor: Visitor, body: Mapping[str, Any]) -> BackupRow:
    namespace = str((body.get("metadata") or {}).get("namespace", ""))
    return backup_row(body, snapshots.snapshot(visitor.caller(namespace), body))


@dataclass(frozen=True)
class BackupsPage:
    rows: list[BackupRow]
    total: int
    pages: int
    first: int


def page_of(visitor: Visitor, bodies: Sequence[Mapping[str, Any]], filters: Filters, size: int) -> BackupsPage:
    chosen = newest_first(body for body in bodies if filters.selects(body))
    pages = max(1, math.ceil(len(chosen) / size))
    start = (min(filters.page, pages) - 1) * size
    rows = [row_of(visitor, body) for body in chosen[start : start + size]]
    return BackupsPage(rows, len(chosen), pages, start + 1)


@routes.get(f"{PREFIX}/backups")
async def backups_page(request: web.Request) -> web.Response:
    console, visitor = console_of(request), visitor_of(request)
    filters = Filters.of(request.query)
    offered, _ = await queries.namespaces(visitor, console.settings.default_namespace, filters.namespace or None)
    problem = None
    try:
        visible = await queries.visible_backups(visitor, filters.namespace or None, offered)
        bodies: list[dict[str, Any]] = visible.bodies
        if visible.refused:
            problem = f"You may not list the backups of namespace {', '.join(visible.refused)}."
    except RedisBackupError as fault:
        bodies, problem = [], fault.message
    page = page_of(visitor, bodies, filters, console.settings.page_size)
    notices = {
        "deleted": "Deleting backup {}: it leaves the list once its stored data is released.",
        "copied": "Copying into backup {}.",
    }
    notice = next((text.format(request.query[key]) for key, text in notices.items() if request.query.get(key)), None)
    return render(
        request,
        "backups.html",
        title="Backups",
        active="backups",
        filters=filters,
        statuses=STATUSES,
        namespaces=offered,
        page=page,
        problem=problem,
        notice=notice,
        live=f"{PREFIX}/live/backups?{filters.query()}",
    )
