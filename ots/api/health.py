"""Liveness and database readiness."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from ots.api.context import context_of
from ots.api.openapi import Answer, documented, success
from ots.api.responses import model_response, retry_headers
from ots.api.schemas import HealthResponse
from ots.errors import UnavailableError, error_body

bp = Blueprint("health")
_DOWN = UnavailableError("The database cannot be reached.")
_DOWN_ANSWER = HealthResponse(status="unavailable", database="unavailable", **error_body(_DOWN))


@bp.get("/health", ctx_rate_limited=False)
@documented(
    "get_health",
    "Liveness and database readiness",
    "health",
    success(HealthResponse, "Serving: ok, or degraded while the rate-limit storage is down"),
    Answer(
        _DOWN.status,
        HealthResponse,
        "The database cannot be reached; see Retry-After",
        _DOWN_ANSWER.model_dump(mode="json", exclude_unset=True),
    ),
)
async def health(request: Request) -> HTTPResponse:
    """Answer 200 when the database answers, 503 with ``Retry-After`` when it does not.

    A rate limiter whose storage (Redis) is unreachable shows as degraded.
    """
    context = context_of(request)
    if await context.maintenance.database_ready():
        if context.limiter.degraded:
            # Still serving, but without the shared rate limit: say so.
            return model_response(
                HealthResponse(status="degraded", database="ok", rate_limiter="degraded")
            )
        return model_response(HealthResponse(status="ok", database="ok"))
    return model_response(_DOWN_ANSWER, status=_DOWN.status, headers=retry_headers(_DOWN))
