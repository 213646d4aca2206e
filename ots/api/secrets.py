"""Create, reveal and check secrets: thin handlers over ``SecretService``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from ots.api.body import parse_body
from ots.api.context import service_of
from ots.api.docs import (
    BODY_ERRORS,
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
    UNAVAILABLE_OR_OVERLOADED,
    documented,
    error_doc,
)
from ots.api.responses import model_response
from ots.api.schemas import (
    GenerateRequest,
    GenerateResponse,
    RevealRequest,
    RevealResponse,
    StatusResponse,
)
from ots.crypto import Concealed
from ots.errors import (
    PayloadTooLargeError,
    StorageFullError,
    WrongPassphraseError,
)

bp = Blueprint("secrets")


_BODY_ROUTE_ERRORS = [*BODY_ERRORS, RATE_LIMITED, UNAVAILABLE_OR_OVERLOADED]


@bp.post("/generate")
@documented(
    "Store a secret behind a passphrase",
    GenerateResponse,
    "Stored",
    error_doc(PayloadTooLargeError, "the body or the secret is over the limit"),
    *_BODY_ROUTE_ERRORS,
    error_doc(
        StorageFullError,
        "OTS_MAX_LIVE_SECRETS or OTS_MAX_STORED_BYTES are used; see Retry-After",
    ),
    status=201,
    body=GenerateRequest,
)
async def generate(request: Request) -> HTTPResponse:
    """Store a secret and return its ``secret_key``."""
    body = parse_body(request, GenerateRequest)
    created = await service_of(request).create_secret(
        body.secret, Concealed(body.passphrase), body.ttl
    )
    return model_response(GenerateResponse.of(created), status=201)


@bp.post("/secrets/<secret_key:str>")
@documented(
    "Reveal a secret once; it is destroyed",
    RevealResponse,
    "The secret",
    error_doc(WrongPassphraseError, "the secret stays; see attempts_left"),
    NOT_FOUND,
    *_BODY_ROUTE_ERRORS,
    body=RevealRequest,
)
async def reveal(request: Request, secret_key: str) -> HTTPResponse:
    """Reveal the secret with the passphrase; exactly one caller ever gets it."""
    body = parse_body(request, RevealRequest)
    secret = await service_of(request).reveal_secret(secret_key, Concealed(body.passphrase))
    return model_response(RevealResponse(secret=secret))


@bp.get("/secrets/<secret_key:str>")
@documented(
    "Check that a secret is still readable, without reading it",
    StatusResponse,
    "Pending",
    NOT_FOUND,
    RATE_LIMITED,
    UNAVAILABLE,
)
async def status(request: Request, secret_key: str) -> HTTPResponse:
    """Tell whether the secret is still there; never destroys it."""
    found = await service_of(request).secret_status(secret_key)
    return model_response(StatusResponse.of(found))
