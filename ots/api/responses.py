"""JSON responses: bodies from the response models, errors from the error tree.

The security headers are added to every response, errors and docs included,
by one response middleware (``ots.app``); nothing here sets them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pydantic import BaseModel
from sanic import HTTPResponse
from sanic.response import JSONResponse
from sanic.response.types import HEADER_TRANSLATION_TABLE

from ots.errors import OtsError, error_body

SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # A JSON answer loads nothing and is framed by nothing; /docs sets its own policy first.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def encode_header(name: str, value: object) -> tuple[bytes, bytes]:
    """Return a header as Sanic sends it: CR, LF and NUL dropped, then encoded."""
    return (
        name.translate(HEADER_TRANSLATION_TABLE).encode("ascii"),
        f"{value}".translate(HEADER_TRANSLATION_TABLE).encode(errors="surrogateescape"),
    )


# The headers every JSON response carries, with the values they always have, encoded
# once: Sanic would clean and encode them again for each response.
_ENCODED: Final = {
    (name, value): encode_header(name, value)
    for name, value in (
        *SECURITY_HEADERS.items(),
        ("content-type", "application/json"),
        ("connection", "keep-alive"),
        ("alt-svc", ""),
    )
}


class ApiResponse(JSONResponse):
    """A JSON response whose usual headers go out pre-encoded.

    Sanic cleans and encodes each header of each response (``processed_headers``):
    for the dozen an API answer carries, that was about 2 % of a request's CPU.
    Only a name and value that are exactly one of ``_ENCODED``'s take the
    shortcut; everything else (the rate-limit numbers, ``Retry-After``, any
    value that came from a request) is cleaned as Sanic cleans it.
    """

    __slots__ = ()

    @property
    def processed_headers(self) -> Iterator[tuple[bytes, bytes]]:
        """The headers as bytes, as Sanic's own property returns them."""
        # Sanic's ``has_message_body``: no body, so no type, on 1xx, 204 and 304.
        if self.status not in (204, 304) and not 100 <= self.status < 200:
            self.headers.setdefault("content-type", self.content_type)
        known = _ENCODED.get
        return iter(
            [
                (type(value) is str and known((name, value))) or encode_header(name, value)
                for name, value in self.headers.items()
            ]
        )


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
    return ApiResponse(body, status=status, headers=headers)


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
