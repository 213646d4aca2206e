"""Ask for a secret, and answer a request: thin handlers over ``SecretService``.

The format is ``docs/request-v1.md``: the server sees neither the secret nor
any key that opens it. The answer, once stored, is revealed as any sealed
secret (``POST /secrets/{secret_key}`` with the proof).
"""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from ots.access import NEEDS_TOKEN, NOT_FROM_HERE
from ots.api.access import creator_of
from ots.api.body import json_object, validate
from ots.api.context import requests_of
from ots.api.openapi import FOR_BROWSERS, UNAVAILABLE, documented, error_doc, link, success
from ots.api.responses import model_response
from ots.api.schemas import (
    AnswerRequest,
    CreateRequestRequest,
    CreateRequestResponse,
    RequestStatusResponse,
)
from ots.asking import NO_SUCH_REQUEST
from ots.domain import NOTIFIABLE
from ots.errors import (
    AlreadyAnsweredError,
    ForbiddenError,
    NotFoundError,
    StorageFullError,
    UnauthorizedError,
)

bp = Blueprint("requests")
TAG = "requests"
NOT_FOUND = error_doc(NotFoundError(NO_SUCH_REQUEST), "unknown, expired, or burned by its asker")


@bp.post("/requests", ctx_rate_limited=True)
@documented(
    "create_request",
    "Ask for a secret: a request link to send out, an answer key to keep",
    TAG,
    success(
        CreateRequestResponse,
        "Stored. Send the request link (request_key, with your public key after '#'); keep "
        "the answer link (answer_key, with your private key after '#') and the receipt_key.",
        status=201,
        links={
            "request_status": link("request_status", "request_key", "request_key"),
            "answer_request": link("answer_request", "request_key", "request_key"),
        },
    ),
    error_doc(
        UnauthorizedError(NEEDS_TOKEN),
        "OTS_CREATE_ACCESS asks for a token and none was sent, or the token is unknown, "
        "revoked or expired",
    ),
    error_doc(ForbiddenError(NOT_FROM_HERE), "the client is outside OTS_CREATE_NETWORKS"),
    UNAVAILABLE,
    error_doc(StorageFullError(retry_after=60), "OTS_MAX_LIVE_SECRETS is used; see Retry-After"),
    body=CreateRequestRequest,
    bearer=None,
)
async def create_request(request: Request) -> HTTPResponse:
    """Store a request for a secret; its answer counts against this creator."""
    creator = await creator_of(request)
    body = validate(CreateRequestRequest, json_object(request))
    notify = None if body.notify is None else body.notify.subscription(NOTIFIABLE)
    created = await requests_of(request).create_request(
        body.verifier_bytes(),
        body.ttl,
        body.note,
        notify,
        quota_key=creator.quota_key,
        token=creator.token,
    )
    return model_response(CreateRequestResponse.of(created), status=201)


@bp.get("/requests/<request_key:str>", ctx_rate_limited=True)
@documented(
    "request_status",
    "Whether a request still takes an answer, and its note; changes nothing",
    TAG,
    success(RequestStatusResponse, "Open (with the asker's note), or answered already"),
    NOT_FOUND,
    UNAVAILABLE,
    page=FOR_BROWSERS
    + "The page shows the note as text and a form whose script seals the answer in the "
    "browser; loading it consumes nothing.",
)
async def request_status(request: Request, request_key: str) -> HTTPResponse:
    """Tell the answering side whether the request is open; never consumes it."""
    found = await requests_of(request).request_status(request_key)
    return model_response(RequestStatusResponse.of(found))


@bp.post("/requests/<request_key:str>/answer", ctx_rate_limited=True)
@documented(
    "answer_request",
    "Answer a request once, with the secret sealed to the asker's public key",
    TAG,
    success(
        RequestStatusResponse,
        "Stored: it waits for the asker as a one-time secret until expires_at",
        status=201,
    ),
    NOT_FOUND,
    error_doc(AlreadyAnsweredError(), "another answer came first; only the first is kept"),
    UNAVAILABLE,
    error_doc(
        StorageFullError(retry_after=60),
        "OTS_MAX_LIVE_SECRETS or OTS_MAX_STORED_BYTES are used, or the asker's share or "
        "token quota; see Retry-After",
    ),
    body=AnswerRequest,
)
async def answer_request(request: Request, request_key: str) -> HTTPResponse:
    """Store the first answer of a request; any later one gets 409."""
    body = validate(AnswerRequest, json_object(request))
    answered = await requests_of(request).answer_request(request_key, body.client_sealed())
    return model_response(RequestStatusResponse.of(answered), status=201)
