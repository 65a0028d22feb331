"""A backup's details: ElastiCache's JSON view (the core's Snapshot document), the RedisBackup as YAML, its
conditions and Events, where it is stored, its verification — and Restore: the YAML of a new Redis restored from
it (`domain.restore_manifests`, what `redisbackup restore-manifest` prints)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from redisbackup.console.context import PREFIX, console_of, render, visitor_of
from redisbackup.console.rows import backup_row
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.restore_manifests import RestoreRequest, restore_yaml
from redisbackup.elasticache import snapshots
from redisbackup.k8s import api, events, redisbackups

routes = web.RouteTableDef()
BACKUP = PREFIX + "/backups/{namespace}/{name}"


async def backup_or_404(request: web.Request) -> dict[str, Any]:
    visitor = visitor_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    body = await api.in_thread(redisbackups.get_backup, namespace, name, visitor.client)
    if body is None:
        page = render(
            request,
            "missing.html",
            status=404,
            title="Backup not found",
            active="backups",
            namespace=namespace,
            name=name,
        )
        raise web.HTTPNotFound(text=page.text, content_type="text/html")
    return body


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    """The RedisBackup as `kubectl get -o yaml` shows it, without the field managers' bookkeeping."""
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return {**body, "metadata": metadata}


@routes.get(BACKUP)
async def details(request: web.Request) -> web.Response:
    visitor = visitor_of(request)
    body = await backup_or_404(request)
    namespace = body["metadata"]["namespace"]
    document = {"Snapshot": snapshots.snapshot(visitor.caller(namespace), body)}
    status = body.get("status") or {}
    found_events: list[dict[str, Any]] = []
    events_problem = None
    try:
        found_events = await api.in_thread(events.list_events, namespace, body["metadata"]["uid"], visitor.client)
    except RedisBackupError as fault:
        events_problem = fault.message
    return render(
        request,
        "details.html",
        title=f"Backup {body['spec'].get('snapshotName', '')}",
        active="backups",
        body=body,
        row=backup_row(body, document["Snapshot"]),
        elasticache_json=json.dumps(document, indent=2),
        backup_yaml=yaml.safe_dump(_shown(body), sort_keys=False),
        conditions=status.get("conditions") or [],
        events=found_events,
        events_problem=events_problem,
        verification=status.get("verification"),
        nodes=status.get("nodeSnapshots") or [],
        notice=request.query.get("notice"),
    )


@routes.get(BACKUP + "/restore")
async def restore(request: web.Request) -> web.Response:
    body = await backup_or_404(request)
    row = backup_row(body, {})
    name = request.query.get("name") or None
    wanted = RestoreRequest.of(body, name=name, image=console_of(request).settings.image)
    return render(
        request,
        "restore.html",
        title=f"Restore {row.snapshot_name}",
        active="backups",
        row=row,
        available=row.status == "available",
        restore_yaml=restore_yaml(wanted),
        target=wanted,
    )
