"""The console as the aiohttp application holds it: its settings, sessions, templates and live streams, and the
few helpers every page uses (the visitor, rendering a template, a redirect)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web

from redisbackup import __version__
from redisbackup.api.faults import FaultCode
from redisbackup.api.naming import SNAPSHOT_NAME, constraints
from redisbackup.console.live_streams import LiveStreams
from redisbackup.console.sessions import SessionKeys
from redisbackup.console.visitors import Visitor, Visitors
from redisbackup.domain.faults import RedisBackupError
from redisbackup.domain.restore_manifests import default_image

PREFIX = "/console"


@dataclass(frozen=True)
class ConsoleSettings:
    default_namespace: str = "default"
    """The namespace shown to users who are not a ServiceAccount and may not list namespaces."""
    accept_timeout: float = 20.0
    """How long Create Backup and Copy wait for the operator to accept or refuse the request."""
    image: str = field(default_factory=lambda: default_image(__version__))
    """The redisbackup image the Restore YAML's init container runs."""
    page_size: int = 50
    locations: tuple[str, ...] = ()
    """Storage locations of the operator's configuration, offered as Copy targets (free text otherwise)."""


class Console:
    def __init__(self, settings: ConsoleSettings, keys: SessionKeys, *, visitors: Visitors | None = None) -> None:
        self.settings = settings
        self.keys = keys
        self.visitors = visitors or Visitors(keys)
        self.streams = LiveStreams()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("redisbackup.console", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.ChainableUndefined,  # optional status fields render as nothing
        )
        self.templates.globals.update(
            prefix=PREFIX,
            version=__version__,
            name_constraints=constraints(SNAPSHOT_NAME),
            naming_rules=SNAPSHOT_NAME.browser_rules(),
        )

    async def close(self) -> None:
        await self.streams.close()
        self.visitors.close()


CONSOLE = web.AppKey("console", Console)
# The visitor of the request being handled: set by the guard middleware, in the task that runs the handler.
VISITOR: contextvars.ContextVar[Visitor | None] = contextvars.ContextVar("console_visitor", default=None)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def visitor_of(request: web.Request) -> Visitor:
    visitor = VISITOR.get()
    if visitor is None:
        raise web.HTTPFound(f"{PREFIX}/sign-in")
    return visitor


def csrf_token(request: web.Request) -> str:
    visitor = VISITOR.get()
    if visitor is not None and visitor.session is not None:
        return console_of(request).keys.csrf_token(visitor.session.session_id)
    return ""


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    chosen = console_of(request).templates.get_template(template)
    page = chosen.render(visitor=VISITOR.get(), csrf_token=csrf_token(request), **context)
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def see_other(location: str) -> web.HTTPSeeOther:
    """After a write: the browser GETs `location` (a reload never repeats the write)."""
    return web.HTTPSeeOther(location)


def refusal_status(fault: RedisBackupError) -> int:
    """The HTTP status a page answers with when the core refused: 403 for RBAC, 404 for what is not there, 409 for
    a name taken, 503 when Kubernetes could not be reached, 422 for the rest of the request's faults."""
    if fault.code == FaultCode.ACCESS_DENIED:
        return 403
    if fault.code == FaultCode.SNAPSHOT_ALREADY_EXISTS:
        return 409
    if fault.code == FaultCode.SNAPSHOT_NOT_FOUND:
        return 404
    return 503 if fault.transient else 422
