"""Create, reveal and check secrets: thin handlers over ``SecretService``."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from ots.access import NEEDS_TOKEN, NOT_FROM_HERE
from ots.api.access import creator_of
from ots.api.body import parse_one_of
from ots.api.context import service_of
from ots.api.openapi import (
    FOR_BROWSERS,
    FORM_POST,
    UNAVAILABLE,
    UNAVAILABLE_OR_OVERLOADED,
    documented,
    error_doc,
    link,
    success,
)
from ots.api.responses import model_response
from ots.api.schemas import (
    GenerateRequest,
    GenerateResponse,
    RevealRequest,
    RevealResponse,
    SealedGenerateRequest,
    SealedRevealRequest,
    SealedRevealResponse,
    StatusResponse,
)
from ots.crypto import Concealed
from ots.errors import (
    ForbiddenError,
    NotFoundError,
    StorageFullError,
    UnauthorizedError,
    WrongModeError,
    WrongPassphraseError,
)
from ots.service import WRONG_MODE_SEALED

bp = Blueprint("secrets")
TAG = "secrets"
NOT_FOUND = error_doc(NotFoundError(), "unknown, read, expired, burned or destroyed")


@bp.post("/generate", ctx_rate_limited=True)
@documented(
    "generate_secret",
    "Store a secret: behind a passphrase, or sealed by the client",
    TAG,
    success(
        GenerateResponse,
        "Stored. Hand the secret_key and the passphrase (or, sealed, the link) to the "
        "recipient; keep the receipt_key.",
        status=201,
        links={
            "reveal_secret": link("reveal_secret", "secret_key", "secret_key"),
            "check_secret": link("check_secret", "secret_key", "secret_key"),
            "get_receipt": link("get_receipt", "receipt_key", "receipt_key"),
            "burn_secret": link("burn_secret", "receipt_key", "receipt_key"),
        },
    ),
    error_doc(
        UnauthorizedError(NEEDS_TOKEN),
        "OTS_CREATE_ACCESS asks for a token and none was sent, or the token sent (on any "
        "instance) is unknown, revoked or expired",
    ),
    error_doc(ForbiddenError(NOT_FROM_HERE), "the client is outside OTS_CREATE_NETWORKS"),
    UNAVAILABLE_OR_OVERLOADED,
    error_doc(
        StorageFullError(retry_after=60),
        "OTS_MAX_LIVE_SECRETS or OTS_MAX_STORED_BYTES are used, or this client's share of "
        "them (OTS_CLIENT_SHARE), or the token's own byte quota; see Retry-After",
    ),
    body=(GenerateRequest, SealedGenerateRequest),
    bearer=None,
    page=FORM_POST
    + "The share page (GET / in a browser) posts its form here with the fields secret, "
    "passphrase and ttl (seconds): a passphrase secret, answered with a page (201) that "
    "shows its link and receipt link. Sealed secrets are made by the page's script, "
    "with the JSON body.",
)
async def generate(request: Request) -> HTTPResponse:
    """Store a secret and return its ``secret_key``."""
    creator = await creator_of(request)
    body = parse_one_of(request, GenerateRequest, SealedGenerateRequest)
    notify = None if body.notify is None else body.notify.subscription()
    service = service_of(request)
    client, token = creator.quota_key, creator.token
    if isinstance(body, SealedGenerateRequest):
        created = await service.create_sealed(
            body.client_sealed(),
            body.verifier_bytes(),
            body.ttl,
            notify,
            quota_key=client,
            token=token,
        )
    else:
        created = await service.create_secret(
            body.secret, Concealed(body.passphrase), body.ttl, notify, quota_key=client, token=token
        )
    return model_response(GenerateResponse.of(created), status=201)


@bp.post("/secrets/<secret_key:str>", ctx_rate_limited=True)
@documented(
    "reveal_secret",
    "Reveal a secret once; it is destroyed",
    TAG,
    success(
        (RevealResponse, SealedRevealResponse),
        "The secret exactly as stored (sealed: the client's ciphertext and envelope); "
        "it is gone from the server",
    ),
    error_doc(
        WrongPassphraseError(attempts_left=4),
        "the passphrase (or sealed: the proof) is wrong; the secret stays; see attempts_left",
    ),
    NOT_FOUND,
    error_doc(
        WrongModeError(WRONG_MODE_SEALED),
        "a passphrase for a sealed secret, or a proof for a passphrase one; nothing was counted",
    ),
    UNAVAILABLE_OR_OVERLOADED,
    body=(RevealRequest, SealedRevealRequest),
    page=FORM_POST
    + "The recipient's page posts its form here with the field passphrase: the secret "
    "is revealed exactly once, with the same attempts as the JSON body; a wrong "
    "passphrase answers the form again (403) with the attempts left.",
)
async def reveal(request: Request, secret_key: str) -> HTTPResponse:
    """Reveal the secret with the passphrase (or proof); exactly one caller ever gets it."""
    body = parse_one_of(request, RevealRequest, SealedRevealRequest)
    service = service_of(request)
    if isinstance(body, SealedRevealRequest):
        opened = await service.reveal_sealed(secret_key, body.proof_bytes())
        return model_response(SealedRevealResponse.of(opened))
    secret = await service.reveal_secret(secret_key, Concealed(body.passphrase))
    return model_response(RevealResponse(secret=secret))


@bp.get("/secrets/<secret_key:str>", ctx_rate_limited=True)
@documented(
    "check_secret",
    "Check that a secret is still readable, without reading it",
    TAG,
    success(StatusResponse, "Pending: it can still be revealed"),
    NOT_FOUND,
    UNAVAILABLE,
    page=FOR_BROWSERS
    + "The recipient's page says that a secret waits, until when, with how many attempts "
    "left: the same safe check, which reveals and counts nothing. The first check (JSON or "
    "page, GET or HEAD) sets the receipt's opened_at. Its Reveal button posts "
    "(a sealed link's proof, derived in the browser from the link's fragment, or the "
    "passphrase form).",
)
async def status(request: Request, secret_key: str) -> HTTPResponse:
    """Tell whether the secret is still there; never destroys it (the first check opens it)."""
    found = await service_of(request).secret_status(secret_key)
    return model_response(StatusResponse.of(found))
