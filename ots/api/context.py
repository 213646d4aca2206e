"""What handlers take from the app context."""

from __future__ import annotations

from sanic import Request

from ots.config import Settings
from ots.ratelimit import ClientRateLimiter
from ots.service import SecretService


def service_of(request: Request) -> SecretService:
    """Return the worker's ``SecretService``."""
    service: SecretService = request.app.ctx.service
    return service


def settings_of(request: Request) -> Settings:
    """Return the app's settings."""
    settings: Settings = request.app.ctx.settings
    return settings


def rate_limiter_of(request: Request) -> ClientRateLimiter:
    """Return the worker's rate limiter."""
    limiter: ClientRateLimiter = request.app.ctx.rate_limiter
    return limiter
