"""A backup's actions: Delete (confirmed by typing its name), Copy (a new name, a storage location) and Verify —
each through the core, as the visitor, its refusal shown as the core words it."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from aiohttp import web

from redisbackup.api.naming import SNAPSHOT_NAME, suggested_snapshot_name
from redisbackup.console.context import PREFIX, console_of, refusal_status, render, see_other, visitor_of
from redisbackup.console.details_page import BACKUP, backup_or_404
from redisbackup.console.rows import BackupRow, backup_row
from redisbackup.domain.faults import RedisBackupError
from redisbackup.elasticache import snapshots, verification
from redisbackup.elasticache.snapshots import NewSnapshot

routes = web.RouteTableDef()


def _row(body: dict[str, Any]) -> BackupRow:
    return backup_row(body, {})


def _details(row: BackupRow, notice: str | None = None) -> str:
    path = f"{PREFIX}/backups/{urllib.parse.quote(row.namespace)}/{urllib.parse.quote(row.name)}"
    return f"{path}?{urllib.parse.urlencode({'notice': notice})}" if notice else path


# ------------------------------------------------------------------------------------------------------- delete
def _delete_form(
    request: web.Request, row: BackupRow, *, problem: str | None = None, status: int = 200
) -> web.Response:
    return render(
        request, "delete.html", status=status, title=f"Delete {row.snapshot_name}", active="backups", row=row,
        problem=problem, dialog=True,
    )  # fmt: skip


@routes.get(BACKUP + "/delete")
async def delete_form(request: web.Request) -> web.Response:
    return _delete_form(request, _row(await backup_or_404(request)))


@routes.post(BACKUP + "/delete")
async def delete(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    row = _row(await backup_or_404(request))
    typed = str((await request.post()).get("confirm") or "")
    if typed != row.snapshot_name:
        problem = f"Type the backup's name, {row.snapshot_name}, exactly as shown to delete it."
        return _delete_form(request, row, problem=problem, status=422)
    try:
        await snapshots.delete_snapshot(visitor.caller(row.namespace), row.snapshot_name)
    except RedisBackupError as fault:
        return _delete_form(request, row, problem=f"{fault.code}: {fault.message}", status=refusal_status(fault))
    query = urllib.parse.urlencode({"namespace": row.namespace, "deleted": row.snapshot_name})
    raise see_other(f"{PREFIX}/backups?{query}")


# --------------------------------------------------------------------------------------------------------- copy
def _copy_form(
    request: web.Request, row: BackupRow, name: str, location: str, *, problems: list[str] | None = None,
    problem: str | None = None, status: int = 200,
) -> web.Response:  # fmt: skip
    return render(
        request, "copy.html", status=status, title=f"Copy {row.snapshot_name}", active="backups", row=row,
        name=name, location=location, locations=console_of(request).settings.locations,
        name_problems=problems or [], problem=problem, dialog=True,
    )  # fmt: skip


@routes.get(BACKUP + "/copy")
async def copy_form(request: web.Request) -> web.Response:
    row = _row(await backup_or_404(request))
    return _copy_form(request, row, suggested_snapshot_name(row.snapshot_name, dt.datetime.now(dt.UTC)), "")


@routes.post(BACKUP + "/copy")
async def copy(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    row = _row(await backup_or_404(request))
    form = await request.post()
    name, location = str(form.get("snapshot_name") or ""), str(form.get("location") or "").strip()
    problems = [SNAPSHOT_NAME.message(rule) for rule in SNAPSHOT_NAME.broken_rules(name)]
    if problems:
        return _copy_form(request, row, name, location, problems=problems, status=422)
    wanted = NewSnapshot(
        snapshot_name=name, source_snapshot_name=row.snapshot_name, settings={"storage": location or None}
    )
    try:
        await snapshots.copy_snapshot(
            visitor.caller(row.namespace), wanted, accept_timeout=console_of(request).settings.accept_timeout
        )
    except RedisBackupError as fault:
        problem = f"{fault.code}: {fault.message}"
        return _copy_form(request, row, name, location, problem=problem, status=refusal_status(fault))
    raise see_other(f"{PREFIX}/backups?{urllib.parse.urlencode({'namespace': row.namespace, 'copied': name})}")


# ------------------------------------------------------------------------------------------------------- verify
@routes.post(BACKUP + "/verify")
async def verify(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    row = _row(await backup_or_404(request))
    try:
        await verification.request_verification(visitor.caller(row.namespace), row.snapshot_name)
    except RedisBackupError as fault:
        raise see_other(_details(row, f"Not verified: {fault.code}: {fault.message}")) from None
    raise see_other(_details(row, "Verification requested: the operator records its result below."))
