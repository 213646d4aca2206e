"""OpenAPI descriptions of error answers, derived from the error classes themselves."""

from __future__ import annotations

from pydantic import BaseModel
from sanic_ext.extensions.openapi.definitions import Response

from ots.api.schemas import ErrorResponse, openapi_content
from ots.errors import (
    InvalidJsonError,
    OtsError,
    OverloadedError,
    RateLimitedError,
    RequestTimeoutError,
    UnavailableError,
    ValidationFailedError,
)


def error_doc(
    error: type[OtsError],
    when: str,
    *also: tuple[type[OtsError], str],
    model: type[BaseModel] = ErrorResponse,
) -> Response:
    """Describe the answer with ``error``'s status: each code it may carry, and when.

    Raises:
        ValueError: the errors given do not share one status.
    """
    cases = [(error, when), *also]
    if len({case.status for case, _ in cases}) != 1:
        raise ValueError("one response documents one status")
    description = "; ".join(f"{case.code}: {text}" for case, text in cases)
    return Response(openapi_content(model), status=error.status, description=description)


RATE_LIMITED = error_doc(RateLimitedError, "over OTS_RATE_LIMIT; see Retry-After")
UNAVAILABLE = error_doc(
    UnavailableError,
    "the database cannot be reached, or the answer took too long; see Retry-After",
)
# Create and reveal run argon2id, whose queue is bounded: they may also shed load.
UNAVAILABLE_OR_OVERLOADED = error_doc(
    UnavailableError,
    "the database cannot be reached, or the answer took too long",
    (OverloadedError, "this worker's argon2 work is at its bound and nothing was queued"),
)
BODY_ERRORS = [
    error_doc(InvalidJsonError, "the body is not a JSON object"),
    error_doc(RequestTimeoutError, "the body did not arrive within OTS_REQUEST_TIMEOUT"),
    error_doc(ValidationFailedError, "a field is missing, mistyped, empty or out of range"),
]
