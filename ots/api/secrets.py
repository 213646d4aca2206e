"""Create, reveal and check secrets: thin handlers over ``SecretService``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import RequestBody, Response

from ots.api.body import parse_body
from ots.api.context import service_of
from ots.api.docs import RATE_LIMITED, UNAVAILABLE, error_doc
from ots.api.responses import iso_utc, json_response
from ots.api.schemas import (
    GenerateRequest,
    GenerateResponse,
    RevealRequest,
    RevealResponse,
    StatusResponse,
    openapi_content,
)
from ots.crypto import Concealed

bp = Blueprint("secrets")


_COMMON_ERRORS = [
    error_doc(400, "invalid_json: the body is not a JSON object"),
    error_doc(408, "request_timeout: the body did not arrive within OTS_REQUEST_TIMEOUT"),
    error_doc(422, "validation_error: a field is missing, mistyped, empty or out of range"),
    RATE_LIMITED,
    UNAVAILABLE,
]


@bp.post("/generate")
@openapi.definition(
    summary="Store a secret behind a passphrase",
    body=RequestBody(openapi_content(GenerateRequest), required=True),
    response=[
        Response(openapi_content(GenerateResponse), status=201, description="Stored"),
        error_doc(413, "payload_too_large: the body or the secret is over the limit"),
        *_COMMON_ERRORS,
        error_doc(507, "storage_full: OTS_MAX_LIVE_SECRETS are waiting; see Retry-After"),
    ],
)
async def generate(request: Request) -> HTTPResponse:
    """Store a secret and return its ``secret_key``."""
    body = parse_body(request, GenerateRequest)
    created = await service_of(request).create_secret(
        body.secret, Concealed(body.passphrase), body.ttl
    )
    return json_response(
        {
            "secret_key": created.secret_key,
            "receipt_key": created.receipt_key,
            "expires_at": iso_utc(created.expires_at),
        },
        status=201,
    )


@bp.post("/secrets/<secret_key:str>")
@openapi.definition(
    summary="Reveal a secret once; it is destroyed",
    body=RequestBody(openapi_content(RevealRequest), required=True),
    response=[
        Response(openapi_content(RevealResponse), status=200, description="The secret"),
        error_doc(403, "wrong_passphrase: the secret stays; see attempts_left"),
        error_doc(404, "not_found: unknown, read, expired, burned or destroyed"),
        *_COMMON_ERRORS,
    ],
)
async def reveal(request: Request, secret_key: str) -> HTTPResponse:
    """Reveal the secret with the passphrase; exactly one caller ever gets it."""
    body = parse_body(request, RevealRequest)
    secret = await service_of(request).reveal_secret(secret_key, Concealed(body.passphrase))
    return json_response({"secret": secret})


@bp.get("/secrets/<secret_key:str>")
@openapi.definition(
    summary="Check that a secret is still readable, without reading it",
    response=[
        Response(openapi_content(StatusResponse), status=200, description="Pending"),
        error_doc(404, "not_found: unknown, read, expired, burned or destroyed"),
        RATE_LIMITED,
        UNAVAILABLE,
    ],
)
async def status(request: Request, secret_key: str) -> HTTPResponse:
    """Tell whether the secret is still there; never destroys it."""
    found = await service_of(request).secret_status(secret_key)
    return json_response(
        {
            "state": "pending",
            "expires_at": iso_utc(found.expires_at),
            "attempts_left": found.attempts_left,
        }
    )
