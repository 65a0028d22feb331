"""`setup_console`: the console's routes, middleware and static assets on the `redisbackup serve` application.

Everything the browser loads — pages, the stylesheet, the script — comes from this package (no CDN: the console
works in air-gapped clusters), under /console beside the Query API at /.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from redisbackup.console import actions, backups_page, details_page, live, redis_page, signing_in
from redisbackup.console.context import CONSOLE, PREFIX, Console
from redisbackup.console.guard import setup_guard

STATIC = Path(__file__).with_name("static")


def setup_console(app: web.Application, console: Console) -> None:
    app[CONSOLE] = console
    setup_guard(app)
    for module in (signing_in, redis_page, backups_page, details_page, actions, live):
        app.router.add_routes(module.routes)
    app.router.add_static(f"{PREFIX}/static", STATIC, append_version=False)

    async def on_shutdown(_: web.Application) -> None:
        await console.close()

    app.on_shutdown.append(on_shutdown)
