"""Liveness and database readiness."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext.extensions.openapi.definitions import Response

from ots.api.context import rate_limiter_of, service_of
from ots.api.docs import documented
from ots.api.responses import model_response, retry_headers
from ots.api.schemas import HealthResponse, openapi_content
from ots.errors import UnavailableError, error_body

bp = Blueprint("health")


@bp.get("/health")
@documented(
    "Liveness and database readiness",
    HealthResponse,
    "Ready",
    Response(openapi_content(HealthResponse), status=503, description="No database"),
)
async def health(request: Request) -> HTTPResponse:
    """Answer 200 when the database answers, 503 with ``Retry-After`` when it does not.

    A rate limiter whose storage (Redis) is unreachable shows as degraded.
    """
    if await service_of(request).database_ready():
        if rate_limiter_of(request).degraded:
            # Still serving, but without the shared rate limit: say so.
            return model_response(
                HealthResponse(status="degraded", database="ok", rate_limiter="degraded")
            )
        return model_response(HealthResponse(status="ok", database="ok"))
    down = UnavailableError("The database cannot be reached.")
    return model_response(
        HealthResponse(status="unavailable", database="unavailable", **error_body(down)),
        status=down.status,
        headers=retry_headers(down),
    )
