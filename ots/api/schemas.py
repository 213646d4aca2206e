"""Request and response bodies; also the source of the OpenAPI schemas."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_PASSPHRASE_CHARS = 1024


class _Strict(BaseModel):
    # Strict: "60" is not an integer and true is not 1; unknown fields are ignored.
    model_config = ConfigDict(strict=True, extra="ignore")


class GenerateRequest(_Strict):
    """Body of ``POST /generate``."""

    # repr=False: a logged or printed request model must not show what it carries.
    secret: str = Field(
        min_length=1,
        repr=False,
        description="The secret; at most OTS_MAX_SECRET_BYTES bytes as UTF-8.",
    )
    passphrase: str = Field(min_length=1, max_length=MAX_PASSPHRASE_CHARS, repr=False)
    ttl: int | None = Field(
        default=None,
        description="Seconds until the secret expires; between OTS_MIN_TTL and OTS_MAX_TTL.",
    )


class RevealRequest(_Strict):
    """Body of ``POST /secrets/{secret_key}``."""

    passphrase: str = Field(min_length=1, max_length=MAX_PASSPHRASE_CHARS, repr=False)


class GenerateResponse(BaseModel):
    """201 answer of ``POST /generate``."""

    secret_key: str = Field(description="Give it, with the passphrase, to the recipient.")
    receipt_key: str = Field(description="Keep it: it shows what became of the secret.")
    expires_at: str = Field(description="ISO 8601, UTC, with a Z suffix.")


class RevealResponse(BaseModel):
    """200 answer of ``POST /secrets/{secret_key}``."""

    secret: str = Field(repr=False)


class StatusResponse(BaseModel):
    """200 answer of ``GET /secrets/{secret_key}``."""

    state: Literal["pending"]
    expires_at: str
    attempts_left: int


class ReceiptResponse(BaseModel):
    """200 answer of ``GET /receipts/{receipt_key}``."""

    state: Literal["pending", "revealed", "burned", "expired"] = Field(
        description="burned also covers a secret destroyed by too many wrong passphrases."
    )
    created_at: str
    expires_at: str
    revealed_at: str | None
    failed_attempts: int


class BurnResponse(BaseModel):
    """200 answer of ``POST /receipts/{receipt_key}/burn``."""

    state: Literal["burned"]


class NotPendingResponse(BaseModel):
    """409 answer of a burn when the secret is no longer pending."""

    error: Literal["not_pending"]
    message: str
    state: Literal["revealed", "burned", "expired"]


class HealthResponse(BaseModel):
    """Answer of ``GET /health``."""

    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "unavailable"]
    rate_limiter: Literal["degraded"] | None = Field(
        default=None, description="Present only while the rate-limit storage is unreachable."
    )
    error: Literal["unavailable"] | None = Field(default=None, description="Only with 503.")
    message: str | None = Field(default=None, description="Only with 503.")


class FieldError(BaseModel):
    """One entry of ``details``."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """Every error body."""

    error: str
    message: str
    details: list[FieldError] | None = Field(default=None, description="Only for validation_error.")
    attempts_left: int | None = Field(default=None, description="Only for wrong_passphrase.")


def openapi_content(model: type[BaseModel]) -> dict[str, Any]:
    """Return an OpenAPI 3.0 ``content`` map for ``model`` as JSON.

    sanic-ext's own model conversion drops ``required`` and leaves dangling
    ``$defs`` references, so the spec is built from pydantic's JSON schema,
    with definitions inlined and ``anyOf [X, null]`` turned into ``nullable``.
    """
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    return {"application/json": {"schema": _inline(schema, definitions)}}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    out = {key: _inline(value, definitions) for key, value in node.items()}
    variants = out.get("anyOf")
    if variants and {"type": "null"} in variants:
        others = [variant for variant in variants if variant != {"type": "null"}]
        if len(others) == 1:
            del out["anyOf"]
            out.update(others[0])
            out["nullable"] = True
    return out
