"""``GET /metrics`` for Prometheus, and the middleware that counts and times every request.

Not rate limited (a scraper must not be locked out by the traffic it
measures); off with ``OTS_METRICS=false``; behind a bearer token when
``OTS_METRICS_TOKEN`` is set.
"""

from __future__ import annotations

import hmac
import time

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import BaseHTTPResponse

from ots import metrics
from ots.api.context import settings_of
from ots.api.openapi import operation_id
from ots.errors import NotFoundError, UnauthorizedError

bp = Blueprint("metrics")


@bp.get("/metrics", ctx_rate_limited=False)
async def scrape(request: Request) -> HTTPResponse:
    """Answer every worker's metrics in Prometheus' text format.

    Raises:
        NotFoundError: metrics are turned off.
        UnauthorizedError: a token is set and the request does not carry it.
    """
    settings = settings_of(request)
    if not settings.metrics:
        raise NotFoundError("There is no such page.")
    if settings.metrics_token:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise UnauthorizedError
    return HTTPResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


async def start_timer(request: Request) -> None:
    """Note when the request arrived."""
    request.ctx.started = time.monotonic()


async def count_request(request: Request, response: BaseHTTPResponse) -> None:
    """Count the answer by operation (never by path: paths carry keys) and time it."""
    route = request.route
    operation = (
        "unmatched" if route is None else operation_id(route.handler) or route.name.split(".")[-1]
    )
    metrics.REQUESTS.labels(operation, request.method, str(response.status)).inc()
    started = getattr(request.ctx, "started", None)
    if started is not None:
        metrics.REQUEST_SECONDS.labels(operation).observe(time.monotonic() - started)
