"""Request and response bodies; also the source of the OpenAPI schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ots.domain import CreatedSecret, Receipt, SecretStatus, State

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
    expires_at: datetime = Field(description="UTC, with a Z suffix.")

    @classmethod
    def of(cls, created: CreatedSecret) -> GenerateResponse:
        """Describe a stored secret."""
        return cls(
            secret_key=created.secret_key,
            receipt_key=created.receipt_key,
            expires_at=utc(created.expires_at),
        )


class RevealResponse(BaseModel):
    """200 answer of ``POST /secrets/{secret_key}``."""

    secret: str = Field(repr=False)


class StatusResponse(BaseModel):
    """200 answer of ``GET /secrets/{secret_key}``."""

    state: Literal[State.PENDING]
    expires_at: datetime
    attempts_left: int

    @classmethod
    def of(cls, status: SecretStatus) -> StatusResponse:
        """Describe a pending secret."""
        return cls(
            state=State.PENDING,
            expires_at=utc(status.expires_at),
            attempts_left=status.attempts_left,
        )


class ReceiptResponse(BaseModel):
    """200 answer of ``GET /receipts/{receipt_key}``."""

    state: State = Field(
        description="burned also covers a secret destroyed by too many wrong passphrases."
    )
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    failed_attempts: int

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptResponse:
        """Describe a receipt."""
        return cls(
            state=receipt.state,
            created_at=utc(receipt.created_at),
            expires_at=utc(receipt.expires_at),
            revealed_at=None if receipt.revealed_at is None else utc(receipt.revealed_at),
            failed_attempts=receipt.failed_attempts,
        )


class BurnResponse(BaseModel):
    """200 answer of ``POST /receipts/{receipt_key}/burn``."""

    state: Literal[State.BURNED]


class NotPendingResponse(BaseModel):
    """409 answer of a burn when the secret is no longer pending."""

    error: str
    message: str
    state: Literal[State.REVEALED, State.BURNED, State.EXPIRED]


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


def utc(epoch_seconds: int) -> datetime:
    """Return epoch seconds as an aware UTC time (it serialises as ISO 8601 with ``Z``)."""
    return datetime.fromtimestamp(epoch_seconds, UTC)


def openapi_content(model: type[BaseModel]) -> dict[str, Any]:
    """Return an OpenAPI 3.0 ``content`` map for ``model`` as JSON.

    sanic-ext's own model conversion drops ``required`` and leaves dangling
    ``$defs`` references, so the spec is built from pydantic's JSON schema,
    with definitions inlined, ``anyOf [X, null]`` turned into ``nullable`` and
    ``const`` into a one-value ``enum``.
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
        # The field's own keys (its description) win over the referenced definition's.
        target = _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        return {**target, **_inline(siblings, definitions)}
    out = {key: _inline(value, definitions) for key, value in node.items()}
    if "const" in out:
        # OpenAPI 3.0 has no const (a 3.1 keyword): a one-value enum says the same.
        out["enum"] = [out.pop("const")]
    variants = out.get("anyOf")
    if variants and {"type": "null"} in variants:
        others = [variant for variant in variants if variant != {"type": "null"}]
        if len(others) == 1:
            del out["anyOf"]
            out.update(others[0])
            out["nullable"] = True
    return out
