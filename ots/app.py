"""The application factory: routes, middleware and listeners around one worker's context.

Nothing runs at import. ``create_app(settings)`` returns a configured Sanic
app; ``sanic ots.app:create_app --factory`` and ``ots serve`` both use it.
What a worker serves with is built without Sanic (``ots.wiring``) in its
start-up listener and hung on the app as one typed object
(``ots.api.context.context_of``); the resident tasks start beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Coroutine
from types import SimpleNamespace
from typing import Any, Final

from sanic import Request, Sanic
from sanic.config import Config
from sanic.exceptions import SanicException
from sanic.response import BaseHTTPResponse
from sanic_ext.extensions.http.extension import HTTPExtension

from ots import metrics
from ots.api import (
    add_cors_headers,
    add_rate_limit_headers,
    api,
    count_request,
    enforce_rate_limit,
    refuse_cross_site,
    start_timer,
)
from ots.api.context import CONTEXT, context_of
from ots.api.errors import JsonErrorHandler
from ots.api.logs import install_ots_handler, install_redaction, log_config
from ots.api.openapi import build_spec
from ots.api.request import OtsRequest
from ots.api.responses import SECURITY_HEADERS
from ots.config import Settings
from ots.events import install_audit_handler
from ots.ssrf import Resolver, system_resolver
from ots.stop import GRACEFUL_SHUTDOWN
from ots.tasks import sweep_forever
from ots.tokens import AccessMode
from ots.web import ErrorPages, Renderer, install, serve_pages
from ots.wiring import Clock, open_context

log = logging.getLogger("ots.app")
App = Sanic[Config, SimpleNamespace]
SWEEPER_TASK: Final = "ots-sweeper"
WEBHOOK_TASK: Final = "ots-webhooks"
DESCRIPTION: Final = (
    "One-time secrets: store a secret behind a passphrase, read it exactly once. "
    "Reading is POST; GET /secrets/{secret_key} never destroys. Sealed mode: the "
    "client encrypts and the server never sees the secret (docs/sealed-v1.md in the "
    "repository; the ots CLI and Python client implement it)."
)
PAGES_DESCRIPTION: Final = (
    " Pages for browsers (OTS_WEB): GET / is the share page, GET /ask the asker's page, "
    "and GET /secrets/{secret_key}, GET /requests/{request_key} and "
    "GET /receipts/{receipt_key} answer a page to a request whose Accept ranks "
    "text/html above application/json; API clients get the JSON, unchanged. The pages "
    "load nothing from another host and send their own Content-Security-Policy."
)
_names = itertools.count()


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = time.time,
    name: str | None = None,
    migrate_on_start: bool = False,
    resolver: Resolver = system_resolver,
    sweep_on_create: bool = False,
) -> App:
    """Build the ots Sanic app.

    Args:
        settings: defaults to ``Settings.from_env()``.
        clock: returns epoch seconds; tests inject a fake one.
        name: Sanic app names are global per process; tests pass a unique one.
        migrate_on_start: apply pending migrations in each worker's start-up
            (under the migration lock). ``ots serve`` migrates once before
            forking instead; the ASGI entry point has no such moment.
        resolver: resolves webhook hosts; tests inject a fake DNS.
        sweep_on_create: let a create sweep one batch when a sweep is due, for a
            process whose resident sweeper may not run between requests (the
            ASGI entry point). ``ots serve`` leaves it off: its resident
            sweeper sweeps, and a create never does.
    """
    settings = settings or Settings.from_env()
    app_name = name or "ots"
    if name is None and _registered(app_name):
        app_name = f"ots_{next(_names)}"
    # The pages (OTS_WEB): read once per app; with them off, nothing of ots.web runs.
    renderer = (
        Renderer.create(mine_link=settings.access_mode is not AccessMode.OPEN)
        if settings.web
        else None
    )
    pages = ErrorPages(renderer) if renderer is not None else None
    # Strict slashes: /generate/ and /health/ are no route at all (404), so a path
    # rule of a proxy in front (or of ots) cannot be dodged with a trailing slash.
    app = Sanic(
        app_name,
        error_handler=JsonErrorHandler(pages),
        log_config=log_config(),
        strict_slashes=True,
        request_class=OtsRequest,
    )
    install_redaction()
    install_ots_handler()
    install_audit_handler()
    # Tortoise logs every query with its values at DEBUG; ciphertexts and lookup
    # hashes have no business in a log, whatever level the operator picks.
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    _configure(app, settings)
    # Of Sanic Extensions, only the automatic HEAD and OPTIONS routes: its other
    # built-ins, loaded by default, include dependency injection, a signal that
    # every request dispatches (and awaits) though no handler of ots takes an
    # injected argument.
    app.extend(extensions=[HTTPExtension], built_in_extensions=False)
    app.blueprint(api)
    if renderer is not None:
        install(app, renderer)
    # Built once per app: its limits come from this app's settings.
    app.ctx.openapi = build_spec(
        app, settings, DESCRIPTION + (PAGES_DESCRIPTION if settings.web else "")
    )

    @app.before_server_start
    async def open_resources(app: App) -> None:
        context = await open_context(
            settings,
            clock=clock,
            resolver=resolver,
            migrate=migrate_on_start,
            sweep_on_create=sweep_on_create,
        )
        setattr(app.ctx, CONTEXT, context)
        app.ctx.tasks = {}
        _start(app, SWEEPER_TASK, sweep_forever(context.maintenance.sweep, settings.sweep_interval))
        if settings.webhooks:
            _start(app, WEBHOOK_TASK, context.deliverer.run_forever())

    @app.before_server_stop
    async def stop_tasks(app: App) -> None:
        for name in (SWEEPER_TASK, WEBHOOK_TASK):
            await app.cancel_task(name, raise_exception=False)
        for task in app.ctx.tasks.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @app.after_server_stop
    async def close_resources(app: App) -> None:
        await context_of(app).close()
        metrics.worker_stopped(os.getpid())

    # App-wide (each route declares whether it is limited), so that automatic HEAD
    # and OPTIONS routes, and requests that match no route, count too.
    app.register_middleware(start_timer, "request")
    # Before the limit: another site's page cannot spend its visitors' (shared) limit.
    app.register_middleware(refuse_cross_site, "request")
    app.register_middleware(enforce_rate_limit, "request")
    if renderer is not None:
        # After the limiter: a page of /secrets or /receipts counts as its JSON twin does.
        app.register_middleware(serve_pages, "request")
    app.register_middleware(add_rate_limit_headers, "response")
    app.register_middleware(add_cors_headers, "response")
    app.register_middleware(add_security_headers, "response")
    app.register_middleware(count_request, "response")
    return app


def _start(app: App, name: str, work: Coroutine[Any, Any, None]) -> None:
    try:
        app.add_task(work, name=name)
    except RuntimeError:
        # Embedded with create_server() (as sanic-testing does), Sanic cannot
        # name tasks; own the task here so it can still be cancelled.
        app.ctx.tasks[name] = asyncio.get_running_loop().create_task(work)


def _registered(name: str) -> bool:
    # Whether this process already has a Sanic app of that name (names are global).
    try:
        Sanic.get_app(name)
    except SanicException:
        return False
    return True


async def add_security_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Give every response (docs and pages included) the contract's security headers.

    ``setdefault``: /docs and the pages set their own policy first, and keep it.
    """
    del request
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)


def _configure(app: App, settings: Settings) -> None:
    app.config.REQUEST_MAX_SIZE = settings.request_max_bytes
    app.config.REQUEST_TIMEOUT = settings.request_timeout
    app.config.RESPONSE_TIMEOUT = settings.response_timeout
    app.config.KEEP_ALIVE_TIMEOUT = settings.keep_alive_timeout
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = GRACEFUL_SHUTDOWN
    # Forwarded-for headers are trusted only when the operator says a proxy is in front.
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.FORWARDED_SECRET = settings.forwarded_secret or None
    app.config.REAL_IP_HEADER = settings.real_ip_header or None
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # Off by default, as in Sanic's own production mode: the audit log already records
    # every state change, and a line per request costs the request path about 7 %.
    app.config.ACCESS_LOG = settings.access_log
    # ots serves its own OpenAPI document and UI (ots.api.docs), not sanic-ext's.
    app.config.OAS = False
    app.config.CORS = False
