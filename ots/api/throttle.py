"""Rate-limit middleware for the API routes (health, metrics and docs are exempt)."""

from __future__ import annotations

import math
import time
from typing import Final

from sanic import Request
from sanic.response import BaseHTTPResponse

from ots import metrics
from ots.api.context import rate_limiter_of, settings_of
from ots.errors import RateLimitedError
from ots.events import CLIENT_ADDRESS
from ots.ratelimit import client_key

LIMITED_PREFIXES: Final = ("/secrets/", "/receipts/")
# The kind of quota key an address makes; other kinds (API tokens) get prefixes of their own.
ADDRESS_QUOTA: Final = "ip:"


def client_address(request: Request) -> str:
    """Return the address the limit is counted against.

    ``remote_addr`` is filled from X-Forwarded-For, Forwarded or X-Real-IP
    only when the operator configured the proxy (PROXIES_COUNT,
    FORWARDED_SECRET or REAL_IP_HEADER); otherwise it is empty and the TCP
    peer counts, so a client cannot dodge the limit with forged headers.
    """
    return request.remote_addr or request.ip


def quota_key(request: Request) -> str:
    """Return the key a create counts against for the per-client storage share.

    The client's bucket as the rate limiter counts it (IPv4, the IPv6
    prefix, IPv4-mapped as IPv4), behind a prefix naming its kind. The
    service keeps it only in memory; the database gets a keyed pseudonym.
    """
    bucket = client_key(client_address(request), settings_of(request).rate_limit_ipv6_prefix)
    return ADDRESS_QUOTA + bucket


def is_limited(path: str) -> bool:
    """Tell whether ``path`` is an API route (health, metrics and docs are exempt)."""
    return path == "/generate" or path.startswith(LIMITED_PREFIXES)


async def enforce_rate_limit(request: Request) -> None:
    """Count a request to an API route, whatever its method; refuse it with 429 past the limit.

    Installed on the app, not on the blueprints: sanic-ext's automatic HEAD
    and OPTIONS routes bypass blueprint middleware, yet HEAD runs the GET
    handler's query. Also notes the client's address for the audit log.
    """
    CLIENT_ADDRESS.set(client_address(request))
    if not is_limited(request.path):
        return
    limiter = rate_limiter_of(request)
    verdict = await limiter.hit(client_address(request))
    request.ctx.rate_limit = verdict
    if not verdict.allowed:
        # Rounded up, but a slot frees within one window at the latest.
        metrics.RATE_LIMITED.inc()
        wait = math.ceil(verdict.reset_at - time.time())
        raise RateLimitedError(retry_after=min(limiter.window, max(1, wait)))


async def add_rate_limit_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Tell the client where it stands, on every response of a limited route."""
    verdict = getattr(request.ctx, "rate_limit", None)
    if verdict is None:
        return
    response.headers["X-RateLimit-Limit"] = str(verdict.limit)
    response.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
    response.headers["X-RateLimit-Reset"] = str(verdict.reset_at)
