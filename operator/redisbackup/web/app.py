"""`init_app`: the aiohttp application of `redisbackup serve`, its typed keys and its middlewares.

Each face adds its routes with one setup function (`setup_query_api`, `setup_console`); each middleware is one
small setup function too, so a new face composes with them instead of copying them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from redisbackup.console.app import setup_console
from redisbackup.console.context import Console
from redisbackup.queryapi.handler import QueryApi

QUERY_API = web.AppKey("query_api", QueryApi)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What every answer says to browsers and caches: nothing here may be sniffed, framed or stored.
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def setup_security_headers(app: web.Application) -> None:
    @web.middleware
    async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.middlewares.append(security_headers)


def setup_server_header(app: web.Application) -> None:
    """No `Server: Python/3.11 aiohttp/3.x` banner: versions are for the metrics, not for every client."""

    async def on_prepare(_: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = "redisbackup"

    app.on_response_prepare.append(on_prepare)


def setup_query_api(app: web.Application, api: QueryApi) -> None:
    """The ElastiCache Query API at `/`, as AWS serves it at its regional endpoint."""
    app[QUERY_API] = api
    app.router.add_route("*", "/", api.handle)
    app.router.add_route("*", "/{tail:.*}", api.handle)  # answered in XML too (InvalidURI), not with HTML


def init_app(api: QueryApi, console: Console | None = None) -> web.Application:
    # aiohttp's own bound on bodies it reads for us; the API handler reads its own, smaller, bounded body.
    app = web.Application(client_max_size=api.max_body + 1)
    setup_security_headers(app)
    setup_server_header(app)
    if console is not None:  # before the API: its catch-all route answers every other path
        setup_console(app, console)
    setup_query_api(app, api)
    return app
