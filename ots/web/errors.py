"""Errors of page requests as calm pages: one sentence, the right status and headers.

The one error mapper (``ots.api.errors``) asks ``ErrorPages.answer`` first
and falls back to JSON when it returns None, so every error, from any layer,
reaches a browser as a page and an API client as the contract's JSON.
"""

from __future__ import annotations

from typing import Final

from sanic import HTTPResponse, Request

from ots.errors import NotFoundError, OtsError, WrongPassphraseError
from ots.web.negotiation import is_form, prefers_html
from ots.web.render import Kind, Renderer

# Paths whose answers are JSON (or their own page) whatever the request prefers.
_NOT_PAGES: Final = ("/docs", "/health", "/metrics", "/static/")
# Error code -> the catalog key of its sentence; any other code reads "error.other".
_SENTENCES: Final = {
    "wrong_mode": "error.wrong_mode",
    "rate_limited": "error.rate_limited",
    "unavailable": "error.busy",
    "overloaded": "error.busy",
    "storage_full": "error.busy",
    "request_timeout": "error.busy",
    "payload_too_large": "error.too_large",
    "headers_too_large": "error.too_large",
    "validation_error": "error.invalid",
    "invalid_json": "error.invalid",
    "bad_request": "error.invalid",
    "forbidden": "error.forbidden",
    "unauthorized": "error.forbidden",
    "not_pending": "error.not_pending",
    "method_not_allowed": "error.method_not_allowed",
}


def wants_page(request: Request) -> bool:
    """Tell whether an error of this request is answered with a page rather than JSON."""
    if request.path.startswith(_NOT_PAGES):
        return False
    if request.method == "POST" and not is_form(request.content_type):
        return False
    if request.method not in ("GET", "HEAD", "POST"):
        return False
    return prefers_html(request.headers.get("accept"))


class ErrorPages:
    """Renders the error pages for the error mapper."""

    def __init__(self, renderer: Renderer) -> None:
        """Render with ``renderer``."""
        self.renderer = renderer

    def answer(
        self, request: Request, error: OtsError, headers: dict[str, str]
    ) -> HTTPResponse | None:
        """Return the page for ``error``, or None when the request wants JSON."""
        if not wants_page(request):
            return None
        if isinstance(error, WrongPassphraseError) and "secret_key" in request.match_info:
            # The reveal form again, with the attempts left (0: the secret is gone).
            return self.renderer.page(
                request,
                "recipient.html",
                kind=Kind.ARGON2,
                status=error.status,
                headers=headers,
                key=request.match_info["secret_key"],
                expires=None,
                attempts_left=error.attempts_left,
                wrong=True,
            )
        return self.renderer.page(
            request,
            "error.html",
            status=error.status,
            headers=headers,
            title_key="error.title.not_found" if error.status == 404 else "error.title.other",
            sentence_key=sentence_key(request, error),
            # Shown by the page's script only to an answer link (#r1.…) whose answer is not
            # there: it may not have come yet, which "gone" alone would not say.
            answer_hint=isinstance(error, NotFoundError) and request.path.startswith("/secrets/"),
        )


def sentence_key(request: Request, error: OtsError) -> str:
    """Return the catalog key of the one sentence that explains ``error`` on a page."""
    if isinstance(error, NotFoundError):
        if request.path.startswith("/secrets/"):
            return "error.not_found.secret"
        if request.path.startswith("/receipts/"):
            return "error.not_found.receipt"
        if request.path.startswith("/requests/"):
            return "error.not_found.request"
        return "error.not_found.page"
    return _SENTENCES.get(error.code, "error.other")
