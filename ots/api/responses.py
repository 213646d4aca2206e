"""JSON responses: bodies from the response models, errors from the error tree.

The security headers are added to every response, errors and docs included,
by one response middleware (``ots.app``); nothing here sets them.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel
from sanic import HTTPResponse
from sanic.response import json

from ots.errors import OtsError, error_body

SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A JSON answer loads nothing and is framed by nothing; /docs sets its own policy first.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def model_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """Return a response model as JSON; optional fields never set are left out."""
    body = model.model_dump(mode="json", exclude_unset=True)
    return json_response(body, status=status, headers=headers)


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """Return ``body`` as JSON."""
    return json(body, status=status, headers=headers)


def error_response(error: OtsError, headers: dict[str, str] | None = None) -> HTTPResponse:
    """Return the contract's error body for ``error``, with ``Retry-After`` when it has one."""
    extra_headers = {**error.headers(), **(headers or {})}
    return json_response(
        error_body(error), status=error.status, headers=retry_headers(error, extra_headers)
    )


def retry_headers(error: OtsError, headers: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``headers`` plus ``Retry-After`` when ``error`` carries one."""
    extra_headers = dict(headers or {})
    if error.retry_after is not None:
        extra_headers["Retry-After"] = str(error.retry_after)
    return extra_headers
