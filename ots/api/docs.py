"""OpenAPI descriptions of error answers, derived from the error classes themselves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from ots.api.schemas import ErrorResponse, openapi_content
from ots.errors import (
    InvalidJsonError,
    NotFoundError,
    OtsError,
    OverloadedError,
    RateLimitedError,
    RequestTimeoutError,
    UnavailableError,
    ValidationFailedError,
)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def documented(
    summary: str,
    answer: type[BaseModel],
    answered: str,
    *errors: Response,
    status: int = 200,
    body: type[BaseModel] | None = None,
) -> Callable[[Handler], Handler]:
    """Describe an operation: its success (``answer`` with ``status``), errors and body."""
    request_body = None if body is None else RequestBody(openapi_content(body), required=True)
    success = Response(openapi_content(answer), status=status, description=answered)
    definition: Callable[[Handler], Handler] = openapi.definition(
        summary=summary, body=request_body, response=[success, *errors]
    )
    return definition


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
NOT_FOUND = error_doc(NotFoundError, "unknown, read, expired, burned or destroyed")
BODY_ERRORS = [
    error_doc(InvalidJsonError, "the body is not a JSON object"),
    error_doc(RequestTimeoutError, "the body did not arrive within OTS_REQUEST_TIMEOUT"),
    error_doc(ValidationFailedError, "a field is missing, mistyped, empty or out of range"),
]
