"""OpenAPI descriptions shared by the blueprints: the error answers each route can give."""

from __future__ import annotations

from sanic_ext.extensions.openapi.definitions import Response

from ots.api.schemas import ErrorResponse, openapi_content


def error_doc(status: int, description: str) -> Response:
    """Describe an error answer with the contract's error body."""
    return Response(openapi_content(ErrorResponse), status=status, description=description)


RATE_LIMITED = error_doc(429, "rate_limited: over OTS_RATE_LIMIT; see Retry-After")
UNAVAILABLE = error_doc(
    503,
    "unavailable: the database cannot be reached, or the answer took too long; "
    "overloaded (create and reveal): this worker's argon2 work is at its bound and "
    "nothing was queued. Either way, see Retry-After",
)
