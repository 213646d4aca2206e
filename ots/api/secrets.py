"""Create, reveal and check secrets: thin handlers over ``SecretService``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from ots.api.body import parse_body
from ots.api.context import service_of
from ots.api.docs import (
    BODY_ERRORS,
    RATE_LIMITED,
    UNAVAILABLE,
    UNAVAILABLE_OR_OVERLOADED,
    error_doc,
)
from ots.api.responses import model_response
from ots.api.schemas import (
    GenerateRequest,
    GenerateResponse,
    RevealRequest,
    RevealResponse,
    StatusResponse,
    openapi_content,
)
from ots.crypto import Concealed
from ots.errors import (
    NotFoundError,
    PayloadTooLargeError,
    StorageFullError,
    WrongPassphraseError,
)

bp = Blueprint("secrets")


_COMMON_ERRORS = [*BODY_ERRORS, RATE_LIMITED, UNAVAILABLE_OR_OVERLOADED]
_NOT_FOUND = error_doc(NotFoundError, "unknown, read, expired, burned or destroyed")


@bp.post("/generate")
@openapi.definition(
    summary="Store a secret behind a passphrase",
    body=RequestBody(openapi_content(GenerateRequest), required=True),
    response=[
        Response(openapi_content(GenerateResponse), status=201, description="Stored"),
        error_doc(PayloadTooLargeError, "the body or the secret is over the limit"),
        *_COMMON_ERRORS,
        error_doc(
            StorageFullError,
            "OTS_MAX_LIVE_SECRETS or OTS_MAX_STORED_BYTES are used; see Retry-After",
        ),
    ],
)
async def generate(request: Request) -> HTTPResponse:
    """Store a secret and return its ``secret_key``."""
    body = parse_body(request, GenerateRequest)
    created = await service_of(request).create_secret(
        body.secret, Concealed(body.passphrase), body.ttl
    )
    return model_response(GenerateResponse.of(created), status=201)


@bp.post("/secrets/<secret_key:str>")
@openapi.definition(
    summary="Reveal a secret once; it is destroyed",
    body=RequestBody(openapi_content(RevealRequest), required=True),
    response=[
        Response(openapi_content(RevealResponse), status=200, description="The secret"),
        error_doc(WrongPassphraseError, "the secret stays; see attempts_left"),
        _NOT_FOUND,
        *_COMMON_ERRORS,
    ],
)
async def reveal(request: Request, secret_key: str) -> HTTPResponse:
    """Reveal the secret with the passphrase; exactly one caller ever gets it."""
    body = parse_body(request, RevealRequest)
    secret = await service_of(request).reveal_secret(secret_key, Concealed(body.passphrase))
    return model_response(RevealResponse(secret=secret))


@bp.get("/secrets/<secret_key:str>")
@openapi.definition(
    summary="Check that a secret is still readable, without reading it",
    response=[
        Response(openapi_content(StatusResponse), status=200, description="Pending"),
        _NOT_FOUND,
        RATE_LIMITED,
        UNAVAILABLE,
    ],
)
async def status(request: Request, secret_key: str) -> HTTPResponse:
    """Tell whether the secret is still there; never destroys it."""
    found = await service_of(request).secret_status(secret_key)
    return model_response(StatusResponse.of(found))
