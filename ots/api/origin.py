"""Browsers on other sites: their state-changing requests are refused, listed origins get CORS.

A page of another site can make its visitors' browsers POST to ots (a form,
or ``fetch`` without reading the answer). Browsers say where such a request
comes from, and a script cannot change what they say:

- ``Sec-Fetch-Site`` is ``same-origin``, ``same-site``, ``cross-site`` or
  ``none`` (the user's own action, such as a bookmark);
- ``Origin`` is the scheme, host and port of the page.

A request with a method other than GET, HEAD and OPTIONS is refused with
403 ``forbidden`` when ``Sec-Fetch-Site`` is ``cross-site`` or ``same-site``
(a sibling host, such as a user-content subdomain, is another party too),
or when its ``Origin`` is not this server's own, unless that origin is
listed in ``OTS_CORS_ORIGINS``. ``Origin: null`` passes with
``Sec-Fetch-Site: same-origin``: a form of a page whose ``Referrer-Policy``
is ``no-referrer`` (ots's own pages) sends just that, and only to a secure
origin (https, localhost) does a browser send ``Sec-Fetch-Site`` at all.
This server's own origin is the request's scheme and ``Host``; behind a
proxy the operator configured (PROXIES_COUNT, FORWARDED_SECRET or
REAL_IP_HEADER), the forwarded scheme and host
(``X-Forwarded-Proto``/``X-Forwarded-Host``, or ``Forwarded``'s
``proto=``/``host=``) instead. Under an ASGI server the scheme is the one
that server gives the app. The refusal comes before the rate limit and
any handler: it counts nothing, consumes no attempt and stores nothing.
Requests with neither header (curl, the Python client, the CLI) pass.

For the listed origins, answers carry CORS headers: preflights (OPTIONS
with ``Access-Control-Request-Method``) the methods, headers and max age,
every answer ``Access-Control-Allow-Origin`` and the headers a script may
read. No cookies are involved, so no credentials are allowed.
"""

from __future__ import annotations

from typing import Final

from sanic import Request
from sanic.response import BaseHTTPResponse

from ots.api.context import settings_of
from ots.config import parse_origin
from ots.errors import ForbiddenError

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# What a browser says of a page of another origin; same-origin and none pass.
OTHER_SITES: Final = frozenset({"cross-site", "same-site"})
ALLOW_HEADERS: Final = "Authorization, Content-Type"
EXPOSE_HEADERS: Final = "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
# Chromium caps a preflight's cache at two hours; each real request is still checked.
MAX_AGE: Final = 7200
FALLBACK_METHODS: Final = "GET, HEAD, POST, OPTIONS"


def own_origin(request: Request) -> str | None:
    """Return this server's origin as the request names it (forwarded only by a set proxy)."""
    scheme = request.scheme
    if scheme == "http" and "proto" not in request.forwarded and _served_over_tls(request):
        # Under ASGI Sanic always says http: the server's own scope says https.
        scheme = "https"
    return parse_origin(f"{scheme}://{request.host}")


def _served_over_tls(request: Request) -> bool:
    # Sanic's own server: the TLS context, if any; an ASGI server: its scope's scheme
    # (which uvicorn takes from X-Forwarded-Proto only from its --forwarded-allow-ips).
    return bool(request.transport.get_extra_info("sslcontext"))


def allowed_origin(request: Request) -> str | None:
    """Return the request's ``Origin`` if ``OTS_CORS_ORIGINS`` lists it, else None."""
    sent = request.headers.get("origin")
    if sent is None:
        return None
    allowed = settings_of(request).allowed_origins
    return sent if allowed and parse_origin(sent) in allowed else None


async def refuse_cross_site(request: Request) -> None:
    """Refuse a state-changing request that a browser sent from another site.

    Raises:
        ForbiddenError: another site's page sent it, and its origin is not allowed.
    """
    if request.method in SAFE_METHODS or allowed_origin(request) is not None:
        return
    site = request.headers.get("sec-fetch-site", "").strip().lower()
    origin = request.headers.get("origin")
    if site == "same-origin" and origin == "null":
        # A form posted by a page whose Referrer-Policy is no-referrer (ots's own pages)
        # carries "Origin: null"; Sec-Fetch-Site, which no page can change, says whose it is.
        return
    if site in OTHER_SITES or (origin is not None and parse_origin(origin) != own_origin(request)):
        raise ForbiddenError(
            "A page of another site sent this request; this server does not accept it from there."
        )


async def add_cors_headers(request: Request, response: BaseHTTPResponse) -> None:
    """Give an allowed origin's browser the CORS headers it needs to read the answer."""
    if not settings_of(request).allowed_origins:
        return
    # The answer differs by Origin (with or without these headers): say so to caches.
    vary = response.headers.get("vary")
    response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    origin = allowed_origin(request)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    preflight = request.method == "OPTIONS" and "access-control-request-method" in request.headers
    if preflight and response.status < 300:
        # The path's own methods, as the automatic OPTIONS route lists them.
        methods = response.headers.get("allow", FALLBACK_METHODS)
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = str(MAX_AGE)
