"""Rate-limit middleware: every request counts, but for the routes that declare themselves exempt.

The decision is made on the route the router matched (``request.route``,
resolved before any request middleware runs), never on the raw path: a
path the router does not map to a route reaches no handler, and a path it
does map (a query string, an absolute-form target, a percent-encoded key)
counts as that route. Each route declares it where it is defined, with
``ctx_rate_limited=True`` or ``ctx_rate_limited=False`` on its decorator:

- sanic-ext's automatic HEAD and OPTIONS routes take the flag of the routes
  on their path (limited if any of them is);
- a request that matches no route (404, 405) counts: probing for paths
  costs what using them costs;
- a route that declares nothing counts too (and a test fails until it
  declares itself).
"""

from __future__ import annotations

import math
import time
from typing import Final

from sanic import Request
from sanic.response import BaseHTTPResponse
from sanic_routing import Route

from ots import metrics
from ots.api.context import rate_limiter_of, settings_of
from ots.errors import RateLimitedError
from ots.events import CLIENT_ADDRESS, TOKEN_ID
from ots.ratelimit import client_key, parse_address

# The kind of quota key an address makes; other kinds (API tokens) get prefixes of their own.
ADDRESS_QUOTA: Final = "ip:"
# The route context attribute each route sets with ``ctx_rate_limited=...``.
RATE_LIMITED: Final = "rate_limited"


def client_address(request: Request) -> str:
    """Return the address the limit is counted against.

    ``remote_addr`` is filled from X-Forwarded-For, Forwarded or X-Real-IP
    only when the operator configured the proxy (PROXIES_COUNT,
    FORWARDED_SECRET or REAL_IP_HEADER); otherwise it is empty and the TCP
    peer counts, so a client cannot dodge the limit with forged headers.
    A forwarded value is reduced to its address (``198.51.100.7:1001`` and
    ``[2001:db8::1]:443`` carry a port); one that holds no address
    (``unknown``, an obfuscated ``_hidden``, garbage) counts as the TCP
    peer, never as the string itself, which anyone could vary at will.
    """
    forwarded = request.remote_addr
    if forwarded:
        address = parse_address(forwarded)
        if address is not None:
            return str(address)
    return request.ip


def quota_key(request: Request) -> str:
    """Return the key a create counts against for the per-client storage share.

    The client's bucket as the rate limiter counts it (IPv4, the IPv6
    prefix, IPv4-mapped as IPv4), behind a prefix naming its kind. The
    service keeps it only in memory; the database gets a keyed pseudonym.
    """
    bucket = client_key(client_address(request), settings_of(request).rate_limit_ipv6_prefix)
    return ADDRESS_QUOTA + bucket


def declared_limit(route: Route) -> bool | None:
    """Return what ``route`` declared with ``ctx_rate_limited``, or None if it declared nothing."""
    declared: bool | None = getattr(route.ctx, RATE_LIMITED, None)
    return declared


def is_limited(route: Route | None) -> bool:
    """Tell whether a request matched to ``route`` counts against the rate limit.

    ``None`` (no route: 404 or 405) counts. An automatic route of sanic-ext
    (HEAD, OPTIONS) counts when any route on its path does; the answer is
    kept on the route, so this is worked out once per route.
    """
    if route is None:
        return True
    declared = declared_limit(route)
    if declared is not None:
        return declared
    if getattr(route.handler, "__auto_handler__", False):
        siblings = [
            other
            for other in route.router.routes
            if other.path == route.path and not getattr(other.handler, "__auto_handler__", False)
        ]
        declared = any(declared_limit(other) is not False for other in siblings) or not siblings
        setattr(route.ctx, RATE_LIMITED, declared)
        return declared
    return True


async def enforce_rate_limit(request: Request) -> None:
    """Count a request to a limited route (or to none), whatever its method; 429 past the limit.

    Installed on the app, not on the blueprints: sanic-ext's automatic HEAD
    and OPTIONS routes bypass blueprint middleware, yet HEAD runs the GET
    handler's query. Also notes the client's address for the audit log.
    """
    address = client_address(request)
    CLIENT_ADDRESS.set(address)
    # A keep-alive connection serves its requests in one task: nothing carries over.
    TOKEN_ID.set(None)
    if not is_limited(request.route):
        return
    limiter = rate_limiter_of(request)
    verdict = await limiter.hit(address)
    request.ctx.rate_limit = verdict
    if not verdict.allowed:
        # Rounded up, but a slot frees within one window at the latest.
        metrics.RATE_LIMITED.inc()
        wait = math.ceil(verdict.reset_at - time.time())
        raise RateLimitedError(retry_after=min(limiter.window, max(1, wait)))


async def add_rate_limit_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Tell the client where it stands, on every response of a limited route."""
    verdict = getattr(request.ctx, "rate_limit", None)
    if verdict is None or "X-RateLimit-Limit" in response.headers:
        # None counted; or a tighter limit (a token's own) already told its numbers.
        return
    for name, value in verdict.headers().items():
        response.headers[name] = value
