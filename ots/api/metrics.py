"""``GET /metrics`` for Prometheus, and the middleware that counts and times every request.

Not rate limited (a scraper must not be locked out by the traffic it
measures); off with ``OTS_METRICS=false``; behind a bearer token when
``OTS_METRICS_TOKEN`` is set.
"""

from __future__ import annotations

import hmac
import time
from typing import Final

from prometheus_client.metrics import Counter, Histogram
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import BaseHTTPResponse

from ots import metrics
from ots.api.context import settings_of
from ots.api.openapi import operation_id
from ots.errors import NotFoundError, UnauthorizedError

bp = Blueprint("metrics")
# The methods a label may name. Sanic passes any token a client sends as the method
# (answered 405, or 404 on an unknown path): as a label, each new one would be a
# series kept in every worker's metrics file and shown in every scrape from then on.
METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)
OTHER_METHOD: Final = "other"
# The labelled series each request counts in: a label lookup is a lock, a tuple and
# a dict, every request. Bounded: operations, METHODS and statuses are finite sets.
_counted: dict[tuple[str, str, int], Counter] = {}
_timed: dict[str, Histogram] = {}


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
    method = request.method if request.method in METHODS else OTHER_METHOD
    key = (operation, method, response.status)
    counter = _counted.get(key)
    if counter is None:
        counter = _counted[key] = metrics.REQUESTS.labels(operation, method, str(response.status))
    counter.inc()
    started = getattr(request.ctx, "started", None)
    if started is not None:
        timer = _timed.get(operation)
        if timer is None:
            timer = _timed[operation] = metrics.REQUEST_SECONDS.labels(operation)
        timer.observe(time.monotonic() - started)
