"""What handlers take from the app: the worker's ``Context``, through one typed accessor.

The context (``ots.wiring.Context``) is built in the worker's start-up and
hung on the app under ``CONTEXT``; ``context_of`` returns it typed, and the
shortcuts below read its fields.
"""

from __future__ import annotations

from typing import Any, Final

from sanic import Request, Sanic

from ots.access import Gate
from ots.asking import RequestService
from ots.config import Settings
from ots.ratelimit import ClientRateLimiter
from ots.service import SecretService
from ots.store.tokens import TokenStore
from ots.wiring import Context

# The attribute of ``app.ctx`` that holds the worker's context.
CONTEXT: Final = "ots"


def context_of(source: Request | Sanic[Any, Any]) -> Context:
    """Return the worker's context, from a request or from the app itself.

    Raises:
        RuntimeError: the worker has not started (no context yet).
    """
    app = source.app if isinstance(source, Request) else source
    context = getattr(app.ctx, CONTEXT, None)
    if not isinstance(context, Context):
        raise RuntimeError("the worker's context is not open")
    return context


def service_of(request: Request) -> SecretService:
    """Return the worker's ``SecretService``."""
    return context_of(request).service


def requests_of(request: Request) -> RequestService:
    """Return the worker's ``RequestService`` (asking for a secret)."""
    return context_of(request).requests


def settings_of(request: Request) -> Settings:
    """Return the app's settings."""
    return context_of(request).settings


def gate_of(request: Request) -> Gate:
    """Return the worker's gate of who may create."""
    return context_of(request).gate


def tokens_of(request: Request) -> TokenStore:
    """Return the worker's token store."""
    return context_of(request).tokens


def rate_limiter_of(request: Request) -> ClientRateLimiter:
    """Return the worker's rate limiter."""
    return context_of(request).limiter
