"""The pages' handlers: thin, over the same service calls as their JSON twins.

``GET /``, ``GET /ask``, ``GET /my-secrets`` and the static files are routes of
their own (pages with no JSON twin: a JSON client gets the 404 of an unknown
path). The other pages share their path with an API route
(``GET /secrets/{secret_key}``, ``GET /requests/{request_key}``, the form posts
to ``POST /generate`` ...): ``serve_pages``, a request middleware that runs
after the rate limiter, answers a page when the request asks for one
(``Accept`` ranks HTML above JSON; a POST must also be a form) and lets every
other request through to the API untouched. A page does exactly what its JSON
twin does: the recipient's and the answerer's pages are the same safe status
checks, and a form reveal is the same one-time reveal with the same attempts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from sanic import Blueprint, HTTPResponse, Request
from sanic.exceptions import NotFound

from ots.api.access import creator_of
from ots.api.context import requests_of, service_of, settings_of
from ots.api.schemas import MAX_NOTE_CHARS, ReceiptResponse
from ots.api.throttle import client_address
from ots.crypto import Concealed
from ots.errors import FieldProblem, NotFoundError, UnauthorizedError, ValidationFailedError
from ots.tokens import AccessMode, in_networks
from ots.web.assets import IMMUTABLE
from ots.web.forms import form_fields, generate_request, reveal_request
from ots.web.negotiation import is_form, prefers_html
from ots.web.render import Kind, Renderer
from ots.web.ttl import ttl_choices

bp = Blueprint("web")

Page = Callable[..., Awaitable[HTTPResponse]]

# A token holder's page: its script lists the token's secrets (GET /tokens/self/secrets).
MINE_PATH: Final = "/my-secrets"
# The asker's page: its script makes the request's key pair and posts POST /requests.
ASK_PATH: Final = "/ask"
# Entries the page asks for at a time: a screenful of cards (the API would give 200).
MINE_PAGE_SIZE: Final = 20
# What a token field may hold: a token is 67 characters at most; a paste of more is no token.
TOKEN_MAX_CHARS: Final = 200


def renderer_of(request: Request) -> Renderer:
    """Return the app's page renderer."""
    renderer: Renderer = request.app.ctx.web
    return renderer


def origin(request: Request) -> str:
    """Return the scheme and host this request reached, for links printed on a page.

    Behind a proxy, Sanic reads them from the forwarded headers the operator trusts.
    """
    return f"{request.scheme}://{request.host}"


@bp.get("/", ctx_rate_limited=False)
async def share_page(request: Request) -> HTTPResponse:
    """Serve the share page to a browser; ``/`` has no JSON, so other clients get the 404.

    Raises:
        NotFound: the request does not prefer HTML (the same 404 as any unknown path).
    """
    if not prefers_html(request.headers.get("accept")):
        raise NotFound("There is no such path.")
    return share_form(request)


def asks_token(request: Request) -> bool:
    """Tell whether this client needs an API token to create here.

    In ``token`` mode everyone does; in ``token_or_network`` mode, everyone outside
    ``OTS_CREATE_NETWORKS``. Elsewhere a token is optional (``open``) or no help
    without the network (``network``): the share page offers its field, unrequired.
    """
    settings = settings_of(request)
    mode = settings.access_mode
    if mode is AccessMode.TOKEN:
        return True
    if mode is AccessMode.TOKEN_OR_NETWORK:
        return not in_networks(client_address(request), settings.allowed_networks)
    return False


def share_form(
    request: Request,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    secret: str = "",
    ttl: str = "",
    token_error: str | None = None,
) -> HTTPResponse:
    """Render the share page; again after a refused form post, with what was typed.

    Args:
        request: the page's request.
        status: 200, or the refusal's status.
        headers: the refusal's headers (``WWW-Authenticate``).
        secret: the secret typed into the form, kept so that it need not be typed again.
        ttl: the lifetime chosen in the form (its seconds, as the form sent them).
        token_error: the catalog key of why the token was refused. The passphrase and
            the token are never put back into a page.
    """
    renderer = renderer_of(request)
    settings = settings_of(request)
    choices = ttl_choices(settings, renderer.catalog(request))
    selected = next((s for s, _ in choices if str(s) == ttl), settings.default_ttl)
    return renderer.page(
        request,
        "share.html",
        kind=Kind.ARGON2,
        status=status,
        headers=headers,
        ttl_choices=choices,
        default_ttl=selected,
        max_secret_bytes=settings.max_secret_bytes,
        asks_token=asks_token(request),
        token_max=TOKEN_MAX_CHARS,
        secret=secret,
        token_error=token_error,
    )


@bp.get(ASK_PATH, ctx_rate_limited=False)
async def ask_page(request: Request) -> HTTPResponse:
    """Serve the asker's page (docs/request-v1.md); HTML only, as ``/`` is.

    The key pair must be made in the browser, so the page is a form for its
    script: without JavaScript it says so and offers nothing to post. Like
    ``/``, it shows nothing from the server and touches no secret, so it is not
    rate limited.

    Raises:
        NotFound: the request does not prefer HTML (the same 404 as any unknown path).
    """
    if not prefers_html(request.headers.get("accept")):
        raise NotFound("There is no such path.")
    renderer = renderer_of(request)
    settings = settings_of(request)
    return renderer.page(
        request,
        "ask.html",
        ttl_choices=ttl_choices(settings, renderer.catalog(request)),
        default_ttl=settings.default_ttl,
        asks_token=asks_token(request),
        token_max=TOKEN_MAX_CHARS,
        note_max=MAX_NOTE_CHARS,
    )


@bp.get(MINE_PATH, ctx_rate_limited=False)
async def my_secrets_page(request: Request) -> HTTPResponse:
    """Serve a token holder's page of the secrets made with their token; HTML only.

    Its own path, not a page of ``GET /tokens/self/secrets``: a browser that follows
    a link cannot send the token's header, so that route would answer it 401; the
    page's script asks it, with the token the user gives. Like ``/``, the page shows
    nothing from the server and touches no secret, so it is not rate limited.

    Raises:
        NotFound: the request does not prefer HTML (the same 404 as any unknown path).
    """
    if not prefers_html(request.headers.get("accept")):
        raise NotFound("There is no such path.")
    return renderer_of(request).page(
        request, "mine.html", page_size=MINE_PAGE_SIZE, token_max=TOKEN_MAX_CHARS
    )


@bp.get("/static/<version:str>/<name:path>", ctx_rate_limited=False)
async def static_file(request: Request, version: str, name: str) -> HTTPResponse:
    """Serve a file of the pages under its content-hashed URL.

    Raises:
        NotFoundError: no such file in this build.
    """
    asset = renderer_of(request).assets.find(version, name)
    if asset is None:
        raise NotFoundError("There is no such file.")
    body, encoding = asset.encoded(request.headers.get("accept-encoding"))
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding", **encoding}
    if request.headers.get("if-none-match") == encoding["ETag"]:
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(body, content_type=asset.content_type, headers=headers)


async def recipient_page(request: Request, secret_key: str) -> HTTPResponse:
    """Tell the recipient that a secret waits, until when, with how many attempts: nothing more.

    The same safe check as the JSON GET: it reveals, consumes and counts nothing.
    """
    found = await service_of(request).secret_status(secret_key)
    return renderer_of(request).page(
        request,
        "recipient.html",
        kind=Kind.ARGON2,
        key=secret_key,
        expires=found.expires_at,
        attempts_left=found.attempts_left,
    )


async def request_page(request: Request, request_key: str) -> HTTPResponse:
    """Show the answerer the asker's note and a form for the secret; or that it was answered.

    The same safe check as the JSON GET: it consumes nothing. The note is put in
    the page as text (autoescaped), never as markup. The form's script reads the
    asker's public key from the link's fragment, which the server never sees.
    """
    found = await requests_of(request).request_status(request_key)
    renderer = renderer_of(request)
    if found.answered_at is not None:
        return renderer.page(request, "request_answered.html", answered=found.answered_at)
    return renderer.page(
        request,
        "answer.html",
        key=request_key,
        note=found.note,
        expires=found.expires_at,
        max_secret_bytes=found.max_secret_bytes,
    )


async def reveal_from_form(request: Request, secret_key: str) -> HTTPResponse:
    """Reveal a passphrase secret from the recipient page's form, once, as the JSON POST does."""
    body = reveal_request(form_fields(request))
    secret = await service_of(request).reveal_secret(secret_key, Concealed(body.passphrase))
    return renderer_of(request).page(request, "revealed.html", secret=secret)


async def create_from_form(request: Request) -> HTTPResponse:
    """Store a passphrase secret from the share form (no JavaScript needed); show its links.

    The form's ``token`` field stands in for the ``Authorization`` header that a
    plain form cannot send. Refused for want of a good token, the form comes back
    with the secret and the lifetime as typed, and a sentence; never the token.
    """
    fields = form_fields(request)
    token = fields.get("token", "").strip()
    try:
        creator = await creator_of(request, form_token=token)
    except UnauthorizedError as refused:
        return share_form(
            request,
            status=refused.status,
            headers=refused.headers(),
            secret=fields.get("secret", ""),
            ttl=fields.get("ttl", ""),
            token_error="js.token.invalid" if token else "js.token.needed",
        )
    body = generate_request(fields)
    created = await service_of(request).create_secret(
        body.secret,
        Concealed(body.passphrase),
        body.ttl,
        None,
        quota_key=creator.quota_key,
        token=creator.token,
    )
    base = origin(request)
    return renderer_of(request).page(
        request,
        "created.html",
        status=201,
        link=f"{base}/secrets/{created.secret_key}",
        receipt=f"{base}/receipts/{created.receipt_key}",
        expires=created.expires_at,
        with_token=creator.token is not None,
    )


async def receipt_page(request: Request, receipt_key: str) -> HTTPResponse:
    """Show the creator what became of the secret: the receipt's JSON, as a page."""
    found = await service_of(request).receipt_status(receipt_key)
    receipt = ReceiptResponse.of(found).model_dump(mode="json")
    return renderer_of(request).page(request, "receipt.html", key=receipt_key, receipt=receipt)


async def burn_from_form(request: Request, receipt_key: str) -> HTTPResponse:
    """Burn the secret from its receipt page; the form's box must be ticked.

    Raises:
        ValidationFailedError: the confirmation box was not ticked.
    """
    if "confirm" not in form_fields(request):
        raise ValidationFailedError([FieldProblem("confirm", "is required")])
    service = service_of(request)
    await service.burn_secret(receipt_key)
    return await receipt_page(request, receipt_key)


# Route path (as Sanic names it) -> (page for GET and HEAD, page for a form POST).
_PAGES: Final[dict[str, tuple[Page | None, Page | None]]] = {
    "generate": (None, create_from_form),
    "secrets/<secret_key:str>": (recipient_page, reveal_from_form),
    "receipts/<receipt_key:str>": (receipt_page, None),
    "requests/<request_key:str>": (request_page, None),
    "receipts/<receipt_key:str>/burn": (None, burn_from_form),
}


async def serve_pages(request: Request) -> HTTPResponse | None:
    """Answer a page instead of the API's JSON when the request asks for one.

    Returns None (the API answers) for every request that does not: that is
    every API client, whose ``Accept`` is ``*/*``, JSON or absent.
    """
    route = request.route
    pages = _PAGES.get(route.path) if route is not None else None
    if pages is None:
        return None
    on_get, on_post = pages
    accept = request.headers.get("accept")
    if request.method in ("GET", "HEAD"):
        page = on_get
    elif request.method == "POST" and is_form(request.content_type):
        page = on_post
    else:
        return None
    if page is None or not prefers_html(accept):
        return None
    return await page(request, **request.match_info)
