"""The one error mapper: every ``OtsError`` and framework error becomes the contract's JSON."""

from __future__ import annotations

import logging
from typing import Final, Protocol

from sanic import HTTPResponse, Request
from sanic.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestCancelled,
    RequestTimeout,
    ServiceUnavailable,
)
from sanic.handlers import ErrorHandler

from ots.api.responses import error_response, retry_headers
from ots.errors import (
    BadRequestError,
    ClientClosedError,
    HeadersTooLargeError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    OtsError,
    PayloadTooLargeError,
    RequestTimeoutError,
    UnavailableError,
)

log = logging.getLogger("ots.api")

_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ErrorPages(Protocol):
    """What answers errors with pages for browsers (``ots.web``), when pages are on."""

    def answer(
        self, request: Request, error: OtsError, headers: dict[str, str]
    ) -> HTTPResponse | None:
        """Return a page for ``error``, or None when the request wants JSON."""


class JsonErrorHandler(ErrorHandler):
    """Answer every exception with the contract's JSON error body (or a page, for browsers)."""

    def __init__(self, pages: ErrorPages | None = None) -> None:
        """Map errors to JSON, asking ``pages`` first when given (``OTS_WEB``)."""
        super().__init__()
        self.pages = pages

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        """Map ``exception`` to a JSON error response; log only what is a bug."""
        headers: dict[str, str] = {}
        error: OtsError
        if isinstance(exception, OtsError):
            error = exception
        elif isinstance(exception, MethodNotAllowed) and (allowed := _allowed_methods(request)):
            error = MethodNotAllowedError()
            headers["Allow"] = ", ".join(allowed)
        elif isinstance(exception, NotFound | MethodNotAllowed):
            # With strict slashes Sanic answers 405 for e.g. PUT /generate/, a path
            # that takes no method at all: that is no path, so 404.
            error = NotFoundError("There is no such path or key.")
        elif isinstance(exception, PayloadTooLarge):
            # Sanic raises the same exception for a header block over its limit.
            too_long_headers = "header" in str(exception).lower()
            error = HeadersTooLargeError() if too_long_headers else PayloadTooLargeError()
        elif isinstance(exception, RequestTimeout):
            error = RequestTimeoutError()
        elif isinstance(exception, ServiceUnavailable):
            # Sanic's response timeout: load, or a database slower than the timeout.
            # Not a bug, so no traceback; the client retries.
            error = UnavailableError("The server did not answer in time; retry shortly.")
        elif isinstance(exception, HTTPException) and exception.status_code < 500:
            error = BadRequestError()
        elif isinstance(exception, RequestCancelled):
            error = ClientClosedError()
        else:
            # The error log is redacted by the log filter; the client sees no details.
            log.exception("unhandled error", exc_info=exception)
            error = InternalError()
        page = None if self.pages is None else self._page(self.pages, request, error, headers)
        return error_response(error, headers) if page is None else page

    @staticmethod
    def _page(
        pages: ErrorPages, request: Request, error: OtsError, headers: dict[str, str]
    ) -> HTTPResponse | None:
        try:
            return pages.answer(
                request, error, retry_headers(error, {**error.headers(), **headers})
            )
        except Exception:
            # A page that fails to render must not make an error a 500: the JSON still says it.
            log.exception("error page failed")
            return None


def _allowed_methods(request: Request) -> list[str]:
    # Sanic leaves out Allow when several routes share a path (GET and POST on
    # /secrets/{key}), so ask the router for every method instead.
    allowed = []
    for method in _METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except (NotFound, MethodNotAllowed):
            continue
        allowed.append(method)
    return allowed
