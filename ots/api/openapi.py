"""The OpenAPI 3.0.3 document of ots, built from the routes, the models and the error tree.

Each handler carries its own description (``documented``); ``build_spec``
walks the app's routes and assembles one document in which every schema,
header and error body is a named component referenced with ``$ref``. What
any operation of its kind may answer is added here, once, from the facts of
the route rather than by hand: 408 and 431 everywhere, 403 and 413 on every POST,
400 and 422 where there is a body, 429 on rate-limited routes.

sanic-ext's generator is not used for this: it keeps one document per process
(tests build many apps with different limits), cannot describe response
headers or links, and names operations ``post~secrets.generate``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from sanic import Sanic

from ots.api.schemas import (
    PATH_PARAMETERS,
    AnswerRequest,
    CreateRequestRequest,
    ErrorResponse,
    GenerateRequest,
    SealedGenerateRequest,
)
from ots.api.throttle import is_limited
from ots.config import Settings
from ots.errors import (
    FieldProblem,
    ForbiddenError,
    HeadersTooLargeError,
    InvalidJsonError,
    OtsError,
    OverloadedError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
    UnavailableError,
    ValidationFailedError,
    error_body,
)

OPENAPI_VERSION: Final = "3.0.3"
# The schema extension that states the secret's byte limit (413, not a schema keyword's 422).
SIZE_EXTENSION: Final = "x-max-secret-bytes"
_OPERATION: Final = "_ots_operation"
_SCHEMAS: Final = "#/components/schemas/"
_HEADERS: Final = "#/components/headers/"
# Statuses whose answer always names the seconds to wait.
_RETRY_STATUSES: Final = frozenset({429, 503, 507})
_RATE_LIMIT_HEADERS: Final = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
HEADER_COMPONENTS: Final = {
    "Retry-After": "Seconds to wait before trying again.",
    "X-RateLimit-Limit": "Requests allowed per window for this client address.",
    "X-RateLimit-Remaining": "Requests left in the current window.",
    "X-RateLimit-Reset": "Unix time (seconds) at which the window frees a request.",
}

PAGE_ANSWER: Final = (
    "A page, for a request that asks for HTML (see the operation's description); "
    "the same status as the JSON answer."
)
# Appended to the route descriptions below when the pages are on (OTS_WEB).
FOR_BROWSERS: Final = (
    "For browsers (OTS_WEB=true, the default): a request whose Accept ranks text/html "
    "above application/json, as every browser's does, gets a page (text/html) instead, "
    "with the same status; */*, application/json or no Accept get the JSON, unchanged. "
)
FORM_POST: Final = (
    "A form post (application/x-www-form-urlencoded, with such an Accept) is answered "
    "with a page too, under the same rules as the JSON body; a form from another site "
    "is refused (403 forbidden). "
)

Handler = TypeVar("Handler", bound=Callable[..., Any])
# The name of the API token's security scheme in the document.
BEARER: Final = "bearerAuth"
# One body model, or several of which a body is exactly one (``oneOf``).
Body = type[BaseModel] | tuple[type[BaseModel], ...]


@dataclass(frozen=True)
class Answer:
    """One documented response: its status, body model, meaning and an example body."""

    status: int
    model: Body
    description: str
    example: dict[str, Any] | None = None
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """What one handler does, takes and answers (beyond the answers every route shares)."""

    operation_id: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    body: Body | None = None
    # What a browser gets on this route (OTS_WEB): the operation's description, and an
    # HTML alternative to each of its answers. None: a route of the API only.
    page: str | None = None
    # Whether an API token is sent: True, always; None, it may be (open creates); False, never.
    bearer: bool | None = False
    # Query parameters (strings): name, description.
    query: tuple[tuple[str, str], ...] = ()


def documented(
    operation_id: str,
    summary: str,
    tag: str,
    *answers: Answer,
    body: Body | None = None,
    page: str | None = None,
    bearer: bool | None = False,
    query: tuple[tuple[str, str], ...] = (),
) -> Callable[[Handler], Handler]:
    """Attach an operation's description to its handler, for ``build_spec``."""
    operation = Operation(operation_id, summary, tag, answers, body, page, bearer, query)

    def attach(handler: Handler) -> Handler:
        setattr(handler, _OPERATION, operation)
        return handler

    return attach


def operation_id(handler: Callable[..., Any]) -> str | None:
    """Return the operation id ``documented`` gave ``handler``, if any."""
    operation: Operation | None = getattr(handler, _OPERATION, None)
    return None if operation is None else operation.operation_id


def success(
    model: Body,
    description: str,
    status: int = 200,
    links: dict[str, dict[str, Any]] | None = None,
) -> Answer:
    """Describe a successful answer; its example is the model's own."""
    return Answer(status, model, description, links=links or {})


def error_doc(
    error: OtsError,
    when: str,
    *also: tuple[OtsError, str],
    model: type[BaseModel] = ErrorResponse,
) -> Answer:
    """Describe the answer with ``error``'s status: each code it may carry, and when.

    ``error`` is an instance, so that its body is the example.

    Raises:
        ValueError: the errors given do not share one status.
    """
    cases = [(error, when), *also]
    if len({case.status for case, _ in cases}) != 1:
        raise ValueError("one response documents one status")
    description = "; ".join(f"{case.code}: {text}" for case, text in cases)
    return Answer(error.status, model, description, example=error_body(error))


def link(operation_id: str, parameter: str, field_name: str) -> dict[str, Any]:
    """Return an OpenAPI link: ``operation_id`` takes ``parameter`` from the answer's field."""
    return {
        "operationId": operation_id,
        "parameters": {parameter: f"$response.body#/{field_name}"},
    }


UNAVAILABLE = error_doc(
    UnavailableError(),
    "the database cannot be reached, or the answer took too long; see Retry-After",
)
# Create and reveal run argon2id, whose queue is bounded: they may also shed load.
UNAVAILABLE_OR_OVERLOADED = error_doc(
    UnavailableError(),
    "the database cannot be reached, or the answer took too long",
    (OverloadedError(), "this worker's argon2 work is at its bound and nothing was queued"),
)


def _shared_answers(method: str, limited: bool, has_body: bool) -> list[Answer]:
    """Return what any route of this kind may answer, whatever its handler does."""
    shared = [
        error_doc(RequestTimeoutError(), "the request did not arrive within OTS_REQUEST_TIMEOUT"),
        error_doc(HeadersTooLargeError(), "the request headers are over the server's limit"),
    ]
    if method == "POST":
        shared += [
            error_doc(
                PayloadTooLargeError(),
                "the body is over the request limit (nothing was read further), or the "
                "secret in it is over OTS_MAX_SECRET_BYTES bytes (x-max-secret-bytes): the "
                "one size a schema keyword does not state; every bound it states is 422",
            ),
            error_doc(
                ForbiddenError(),
                "a browser sent it from a page of another site (Sec-Fetch-Site or Origin) "
                "that OTS_CORS_ORIGINS does not list; nothing was counted",
            ),
        ]
    if has_body:
        shared += [
            error_doc(InvalidJsonError(), "the body is not a JSON object"),
            error_doc(
                ValidationFailedError([FieldProblem("ttl", "must be an integer")]),
                "a field is missing, mistyped, empty or out of range",
            ),
        ]
    if limited:
        shared.append(
            error_doc(RateLimitedError(retry_after=60), "over OTS_RATE_LIMIT; see Retry-After")
        )
    return shared


def build_spec(app: Sanic[Any, Any], settings: Settings, description: str) -> dict[str, Any]:
    """Return the OpenAPI document of ``app``'s documented routes, with ``settings``' limits."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(app.router.routes, key=lambda r: (r.path, sorted(r.methods))):
        operation: Operation | None = getattr(route.handler, _OPERATION, None)
        if operation is None:
            continue
        path = "/" + re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", route.path)
        for method in sorted(route.methods):
            paths.setdefault(path, {})[method.lower()] = _operation(
                operation, method, path, is_limited(route), schemas, settings.web
            )
    _apply_limits(schemas, settings)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "ots", "version": "1", "description": description},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `ots tokens add` (ots_<id>_<random>).",
                }
            },
            "headers": {
                name: {
                    "description": text,
                    # Sent with every answer of its status; the others are best effort
                    # (a refusal before routing, such as 431, carries none).
                    "required": name == "Retry-After",
                    "schema": {"type": "integer", "minimum": 0},
                }
                for name, text in HEADER_COMPONENTS.items()
            },
        },
    }


def _operation(
    operation: Operation,
    method: str,
    path: str,
    limited: bool,
    schemas: dict[str, Any],
    web: bool,
) -> dict[str, Any]:
    answers = [
        *operation.answers,
        *_shared_answers(method, limited, operation.body is not None),
    ]
    page = operation.page if web else None
    responses: dict[str, Any] = {}
    for status, group in _by_status(answers):
        responses[str(status)] = _response(group, limited, schemas, page is not None)
    out: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
    }
    if page is not None:
        out["description"] = page
    if operation.bearer is not False:
        # Optional: an empty requirement is "no token" (an open instance's creates).
        out["security"] = [{BEARER: []}] if operation.bearer else [{}, {BEARER: []}]
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS[name],
            # Strings, even the digits of an id: a typed parameter trips hypothesis
            # (schemathesis) into CPython 3.11's "AST constructor recursion depth
            # mismatch" now and then, and the route refuses anything else (404) anyway.
            "schema": {"type": "string"},
        }
        for name in re.findall(r"{(\w+)}", path)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in operation.query
    ]
    if parameters:
        out["parameters"] = parameters
    if operation.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.body, schemas)}},
        }
    return out


def _by_status(answers: Iterable[Answer]) -> list[tuple[int, list[Answer]]]:
    grouped: dict[int, list[Answer]] = {}
    for answer in answers:
        grouped.setdefault(answer.status, []).append(answer)
    return sorted(grouped.items())


def _response(
    group: list[Answer], limited: bool, schemas: dict[str, Any], page: bool
) -> dict[str, Any]:
    # Two answers may share a status (two codes for 503): one description, one schema.
    first = group[0]
    if len({answer.model for answer in group}) != 1:
        raise ValueError(f"status {first.status} documents two bodies")
    media: dict[str, Any] = {"schema": _ref(first.model, schemas)}
    if first.example is not None:
        media["example"] = first.example
    content: dict[str, Any] = {"application/json": media}
    if page:
        # JSON first: generated clients take the first media type, and API clients get it.
        content["text/html"] = {"schema": {"type": "string", "description": PAGE_ANSWER}}
    response: dict[str, Any] = {
        "description": "; ".join(answer.description for answer in group),
        "content": content,
    }
    headers = {}
    if first.status in _RETRY_STATUSES:
        headers["Retry-After"] = {"$ref": _HEADERS + "Retry-After"}
    if limited:
        headers.update({name: {"$ref": _HEADERS + name} for name in _RATE_LIMIT_HEADERS})
    if headers:
        response["headers"] = headers
    links = {name: value for answer in group for name, value in answer.links.items()}
    if links:
        response["links"] = links
    return response


def _ref(model: Body, schemas: dict[str, Any]) -> dict[str, Any]:
    """Register ``model`` (and the models it uses) as components; return a reference.

    Several models give a ``oneOf`` of their references.
    """
    if isinstance(model, tuple):
        return {"oneOf": [_ref(each, schemas) for each in model]}
    schema = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = _openapi_30(definition)
    schemas[model.__name__] = _openapi_30(schema)
    return {"$ref": _SCHEMAS + model.__name__}


def _openapi_30(node: Any) -> Any:
    """Turn pydantic's JSON Schema (2020-12) into OpenAPI 3.0's dialect."""
    if isinstance(node, list):
        return [_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_30(value) for key, value in node.items()}
    if "const" in out:
        # OpenAPI 3.0 has no const (a 3.1 keyword): a one-value enum says the same.
        out["enum"] = [out.pop("const")]
    variants = out.get("anyOf")
    if variants and {"type": "null"} in variants:
        others = [variant for variant in variants if variant != {"type": "null"}]
        if len(others) == 1:
            del out["anyOf"]
            # A $ref ignores its siblings in 3.0, so a nullable reference wraps it in allOf.
            out.update({"allOf": others} if "$ref" in others[0] else others[0])
            out["nullable"] = True
    return out


def _apply_limits(schemas: dict[str, Any], settings: Settings) -> None:
    """Put this server's configured limits into the request schema.

    One rule for every field: each bound a schema keyword states (minLength,
    maxLength, minimum, maximum, minItems, pattern) is answered 422
    validation_error when passed. The secret's size is not such a bound: the
    contract answers it 413 payload_too_large, and it counts UTF-8 bytes
    (passphrase mode) or the plaintext's bytes inside a ciphertext (sealed
    mode), which no JSON Schema keyword counts. So neither field has a
    maxLength; both carry the number as ``x-max-secret-bytes``, which no
    validator enforces and the 413's description names.
    """
    fields = schemas[GenerateRequest.__name__]["properties"]
    fields["ttl"].update(
        minimum=settings.min_ttl, maximum=settings.max_ttl, default=settings.default_ttl
    )
    fields["secret"][SIZE_EXTENSION] = settings.max_secret_bytes
    sealed_fields = schemas[SealedGenerateRequest.__name__]["properties"]
    sealed_fields["ttl"] = fields["ttl"]
    sealed_fields["ciphertext"][SIZE_EXTENSION] = settings.max_secret_bytes
    # A request (docs/request-v1.md): the same TTL bounds; its answer, the same size rule.
    schemas[CreateRequestRequest.__name__]["properties"]["ttl"] = fields["ttl"]
    answer_fields = schemas[AnswerRequest.__name__]["properties"]
    answer_fields["ciphertext"][SIZE_EXTENSION] = settings.max_secret_bytes
