"""ASGI entry point: ``uvicorn ots.asgi:app`` (or hypercorn, or a serverless adapter).

Configured from the same ``OTS_*`` environment as ``ots serve``. Under ASGI
Sanic's request-size limit is not enforced and no main-process listener
runs, so this module adds both guarantees back: ``BodyLimit`` refuses
oversized bodies with 413 before reading them whole, and the app migrates
the database itself at start-up (serialised by the migration lock, so
several instances cold-starting together migrate once).

The ASGI server may also decide who the client is: uvicorn, unless started
with ``--no-proxy-headers``, replaces the scope's client address (and
scheme) with the ``X-Forwarded-For`` (and ``X-Forwarded-Proto``) a peer in
``--forwarded-allow-ips`` sent, 127.0.0.1 and ::1 by default, before ots
sees the request. ``ForwardingCheck`` warns once, at the first call (the
lifespan start-up), when that is on while ots was told of no proxy.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
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


def forwarding_trust(frame: FrameType | None) -> str | None:
    """Return whom the ASGI server calling this app trusts forwarded client addresses from.

    What can be told: uvicorn (its CLI, ``uvicorn.run``, gunicorn's uvicorn
    worker) wraps the app in its ``ProxyHeadersMiddleware`` unless proxy
    headers are off, and that wrapper is on the call stack whenever the app
    is called, so ``frame``'s callers are searched for it and its trusted
    addresses read (``"*"`` for everyone). None: no such wrapper (proxy
    headers off, or another server), or one that trusts nobody
    (``--forwarded-allow-ips ''``). What cannot be told: a server or
    middleware of another kind that rewrites the client, since the scope
    keeps no trace of the TCP peer it replaced.
    """
    while frame is not None:
        candidate = frame.f_locals.get("self")
        kind = type(candidate)
        if kind.__name__ == "ProxyHeadersMiddleware" and kind.__module__.startswith("uvicorn."):
            return _trusted(getattr(candidate, "trusted_hosts", None))
        frame = frame.f_back
    return None


def _trusted(hosts: Any) -> str | None:
    # uvicorn's _TrustedHosts: a wildcard flag, addresses, networks and other literals.
    if getattr(hosts, "always_trust", False):
        return "*"
    parts = ("trusted_hosts", "trusted_networks", "trusted_literals")
    if hosts is None or not all(hasattr(hosts, part) for part in parts):
        # Another uvicorn release: its wrapper is there, whom it trusts is unknown.
        return "the addresses of its --forwarded-allow-ips"
    # An empty literal is what --forwarded-allow-ips '' leaves: it matches no peer.
    named = sorted(str(item) for part in parts for item in getattr(hosts, part) if str(item))
    return ", ".join(named) or None


def forwarding_warning(trusted: str | None, settings: Settings) -> str | None:
    """Return the warning for a server that trusts forwarded addresses from ``trusted``, if due.

    Due when ots was told of no proxy (OTS_PROXIES_COUNT, OTS_FORWARDED_SECRET,
    OTS_REAL_IP_HEADER): ots then counts the scope's client, which the server
    took from a header that any client at those addresses may write.
    """
    told = settings.proxies_count > 0 or settings.forwarded_secret or settings.real_ip_header
    if trusted is None or told:
        return None
    peers = "any peer (*)" if trusted == "*" else trusted
    return (
        f"uvicorn takes the client address and scheme from X-Forwarded-For and "
        f"X-Forwarded-Proto sent by {peers} (--forwarded-allow-ips), but ots was told of no "
        "proxy (OTS_PROXIES_COUNT=0): a client there picks its own address and dodges the "
        "rate limit. With no proxy in front, start uvicorn with --no-proxy-headers; behind "
        "one, set OTS_PROXIES_COUNT and --forwarded-allow-ips to that proxy's address."
    )


class ForwardingCheck:
    """ASGI middleware: at its first call, warn if the server trusts forwarding headers.

    The first call is the lifespan start-up under uvicorn (or the first
    request where the server runs no lifespan); later calls cost one flag
    test.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        """Wrap ``app``, served with ``settings``."""
        self.app = app
        self.settings = settings
        self.checked = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check once, then pass every call through."""
        if not self.checked:
            self.checked = True
            warning = forwarding_warning(forwarding_trust(sys._getframe(1)), self.settings)
            if warning is not None:
                log.warning(warning)
        await self.app(scope, receive, send)


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
    return ForwardingCheck(BodyLimit(sanic_app, settings.request_max_bytes), settings)


app = build()
