"""A token holder's own secrets: ``GET /tokens/self/secrets`` and burning one by its id."""

from __future__ import annotations

from typing import Final

from sanic import Blueprint, HTTPResponse, Request

from ots.access import HOLDERS_ONLY
from ots.api.access import token_holder
from ots.api.context import service_of, tokens_of
from ots.api.openapi import UNAVAILABLE, documented, error_doc, success
from ots.api.responses import model_response
from ots.api.schemas import BurnResponse, NotPendingResponse
from ots.api.token_schemas import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ListedSecret,
    TokenSecretsResponse,
)
from ots.domain import State
from ots.errors import (
    FieldProblem,
    NotFoundError,
    NotPendingError,
    UnauthorizedError,
    ValidationFailedError,
)
from ots.service import SecretService

bp = Blueprint("tokens")
TAG = "tokens"
# Ids are positive 64-bit integers: anything else names no secret (and no database call).
MAX_ID: Final = 2**63 - 1
NOT_LISTED: Final = "This token made no such secret, or its receipt was purged."
_UNAUTHORIZED = error_doc(
    UnauthorizedError(HOLDERS_ONLY), "no token, or one that is unknown, revoked or expired"
)


@bp.get("/tokens/self/secrets", ctx_rate_limited=True)
@documented(
    "list_token_secrets",
    "The secrets made with this token, newest first (state and times, never a key)",
    TAG,
    success(TokenSecretsResponse, "A page of the token's secrets"),
    _UNAUTHORIZED,
    error_doc(
        ValidationFailedError([FieldProblem("limit", "must be a whole number from 1 to 200")]),
        "a cursor that is no page's next, or a limit out of range",
    ),
    UNAVAILABLE,
    bearer=True,
    query=(
        ("cursor", "The next of the previous page; leave out for the first."),
        ("limit", f"Entries per page, 1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE})."),
    ),
)
async def list_secrets(request: Request) -> HTTPResponse:
    """Page through the secrets made with the request's token."""
    token = await token_holder(request)
    cursor = _cursor(request.args.get("cursor"))
    limit = _limit(request.args.get("limit"))
    service = service_of(request)
    now = service.now()
    # One more than the page: a next page is named only when there is one.
    listed = await tokens_of(request).listed(token.id, cursor, limit + 1, now)
    page = listed[:limit]
    entries = [ListedSecret.of(i, SecretService.as_of(receipt, now)) for i, receipt in page]
    more = len(listed) > limit
    return model_response(
        TokenSecretsResponse(secrets=entries, next=str(page[-1][0]) if more else None)
    )


@bp.post("/tokens/self/secrets/<secret_id:int>/burn", ctx_rate_limited=True)
@documented(
    "burn_token_secret",
    "Destroy one of this token's secrets before it is read",
    TAG,
    success(BurnResponse, "Burned: its secret_key answers 404 from now on"),
    _UNAUTHORIZED,
    error_doc(NotFoundError(NOT_LISTED), "not one of this token's secrets, or purged"),
    error_doc(
        NotPendingError(State.REVEALED),
        "already revealed, burned or expired",
        model=NotPendingResponse,
    ),
    UNAVAILABLE,
    bearer=True,
)
async def burn_secret(request: Request, secret_id: int) -> HTTPResponse:
    """Burn the token's pending secret ``secret_id``, as its receipt's burn does."""
    token = await token_holder(request)
    service = service_of(request)
    lookup = None
    if 0 < secret_id <= MAX_ID:
        lookup = await tokens_of(request).receipt_lookup(token.id, secret_id, service.now())
    if lookup is None:
        raise NotFoundError(NOT_LISTED)
    await service.burn_receipt(lookup)
    return model_response(BurnResponse(state=State.BURNED))


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not _digits(text) or not 0 < int(text) <= MAX_ID:
        raise ValidationFailedError([FieldProblem("cursor", "must be the next of a page")])
    return int(text)


def _limit(text: str | None) -> int:
    if text is None:
        return PAGE_SIZE
    if not _digits(text) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise ValidationFailedError(
            [FieldProblem("limit", f"must be a whole number from 1 to {MAX_PAGE_SIZE}")]
        )
    return int(text)


def _digits(text: str) -> bool:
    # At most 19 digits: int() of a longer string costs time (and past 4,300 digits raises).
    return text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))
