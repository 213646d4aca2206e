"""JSON responses with the headers every answer carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sanic import HTTPResponse
from sanic.response import json

from ots.errors import OtsError

SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def iso_utc(epoch_seconds: int) -> str:
    """Format epoch seconds as ISO 8601 UTC with a ``Z`` suffix."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    """Return ``body`` as JSON with the security headers."""
    return json(body, status=status, headers={**SECURITY_HEADERS, **(headers or {})})


def error_response(error: OtsError, headers: dict[str, str] | None = None) -> HTTPResponse:
    """Return the contract's error body for ``error``, with ``Retry-After`` when it has one."""
    extra_headers = dict(headers or {})
    if error.retry_after is not None:
        extra_headers["Retry-After"] = str(error.retry_after)
    body = {"error": error.code, "message": error.message, **error.extra()}
    return json_response(body, status=error.status, headers=extra_headers)
