"""The creator's receipt: what became of a secret, and burning it before it is read."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from ots.api.context import service_of
from ots.api.openapi import FOR_BROWSERS, FORM_POST, UNAVAILABLE, documented, error_doc, success
from ots.api.responses import model_response
from ots.api.schemas import (
    BurnResponse,
    NotPendingResponse,
    ReceiptResponse,
)
from ots.domain import State
from ots.errors import NotFoundError, NotPendingError

bp = Blueprint("receipts")

TAG = "receipts"
_NOT_FOUND = error_doc(NotFoundError(), "unknown or purged receipt")


@bp.get("/receipts/<receipt_key:str>", ctx_rate_limited=True)
@documented(
    "get_receipt",
    "What became of a secret (never its content)",
    TAG,
    success(ReceiptResponse, "The receipt"),
    _NOT_FOUND,
    UNAVAILABLE,
    page=FOR_BROWSERS
    + "The receipt page shows the same state and times, and, while the secret is pending, "
    "a form to burn it.",
)
async def receipt(request: Request, receipt_key: str) -> HTTPResponse:
    """Report the secret's state, times and failed attempts."""
    found = await service_of(request).receipt_status(receipt_key)
    return model_response(ReceiptResponse.of(found))


@bp.post("/receipts/<receipt_key:str>/burn", ctx_rate_limited=True)
@documented(
    "burn_secret",
    "Destroy a secret before it is read",
    TAG,
    success(BurnResponse, "Burned: its secret_key answers 404 from now on"),
    _NOT_FOUND,
    error_doc(
        NotPendingError(State.REVEALED),
        "already revealed, burned or expired",
        model=NotPendingResponse,
    ),
    UNAVAILABLE,
    page=FORM_POST
    + "The receipt page posts its form here with the field confirm (a ticked box), and "
    "gets the receipt page back.",
)
async def burn(request: Request, receipt_key: str) -> HTTPResponse:
    """Burn the pending secret; its secret_key answers 404 from then on."""
    await service_of(request).burn_secret(receipt_key)
    return model_response(BurnResponse(state=State.BURNED))
