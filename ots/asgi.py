"""ASGI entry point: ``uvicorn ots.asgi:app`` (or hypercorn, or a serverless adapter).

Configured from the same ``OTS_*`` environment as ``ots serve``. Under ASGI
Sanic's request-size limit is not enforced and no main-process listener
runs, so this module adds both guarantees back: ``BodyLimit`` refuses
oversized bodies with 413 before reading them whole, and the app migrates
the database itself at start-up (serialised by the migration lock, so
several instances cold-starting together migrate once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ots.api.responses import SECURITY_HEADERS
from ots.app import create_app
from ots.config import Settings, unknown_variables
from ots.errors import PayloadTooLargeError, error_body
from ots.kdf import check_argon2

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DISCONNECT: Final = {"type": "http.disconnect"}
log = logging.getLogger("ots.asgi")


class BodyLimit:
    """ASGI middleware: answer 413 as soon as a request body passes ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before any body
    is read. A chunked body is counted as it streams; past the limit the 413
    is sent, the app is told the client disconnected, and whatever it tries
    to send afterwards is dropped.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through, or refuse it with 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_too_large(send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            if refused:
                return _DISCONNECT
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    await _send_too_large(send)
                    return _DISCONNECT
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send) -> None:
    error = PayloadTooLargeError()
    body = json.dumps(error_body(error)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build(settings: Settings | None = None) -> ASGIApp:
    """Return the ASGI application for ``settings`` (default: from the environment)."""
    if settings is None:
        for warning in unknown_variables():
            log.warning(warning)
        settings = Settings.from_env()
    # As `ots serve` does: a cost this machine cannot serve stops the start.
    check_argon2(settings)
    # No main process to migrate before the workers, and no promise that a resident
    # sweeper runs between requests (serverless): each instance migrates at start,
    # and creates sweep too.
    sanic_app = create_app(settings, migrate_on_start=True, sweep_on_create=True)
    return BodyLimit(sanic_app, settings.request_max_bytes)


app = build()
