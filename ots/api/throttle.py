"""Rate-limit middleware for the API routes (health and docs are exempt)."""

from __future__ import annotations

import math
import time

from sanic import Request
from sanic.response import BaseHTTPResponse

from ots.api.context import rate_limiter_of
from ots.errors import RateLimitedError


def client_address(request: Request) -> str:
    """Return the address the limit is counted against.

    ``remote_addr`` is filled from X-Forwarded-For, Forwarded or X-Real-IP
    only when the operator configured the proxy (PROXIES_COUNT,
    FORWARDED_SECRET or REAL_IP_HEADER); otherwise it is empty and the TCP
    peer counts, so a client cannot dodge the limit with forged headers.
    """
    return request.remote_addr or request.ip


async def enforce_rate_limit(request: Request) -> None:
    """Count the request; refuse it with 429 past the limit."""
    verdict = await rate_limiter_of(request).hit(client_address(request))
    request.ctx.rate_limit = verdict
    if verdict is not None and not verdict.allowed:
        retry_after = max(1, math.ceil(verdict.reset_at - time.time()))
        raise RateLimitedError(retry_after=retry_after)


async def add_rate_limit_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Tell the client where it stands, on every response of a limited route."""
    verdict = getattr(request.ctx, "rate_limit", None)
    if verdict is None:
        return
    response.headers["X-RateLimit-Limit"] = str(verdict.limit)
    response.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
    response.headers["X-RateLimit-Reset"] = str(verdict.reset_at)
