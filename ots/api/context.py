"""What handlers take from the app context."""

from __future__ import annotations

from sanic import Request

from ots.ratelimit import ClientRateLimiter
from ots.service import SecretService


def service_of(request: Request) -> SecretService:
    """Return the worker's ``SecretService``."""
    service: SecretService = request.app.ctx.service
    return service


def rate_limiter_of(request: Request) -> ClientRateLimiter:
    """Return the worker's rate limiter."""
    limiter: ClientRateLimiter = request.app.ctx.rate_limiter
    return limiter
