"""Request and response bodies; also the source of the OpenAPI schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ots import request as request_format
from ots import sealed
from ots.crypto import fingerprint
from ots.domain import (
    ENDED_STATES,
    NOTIFIABLE,
    SECRET_EVENTS,
    ClientSealed,
    CreatedRequest,
    CreatedSecret,
    DeliveryState,
    Event,
    Notify,
    Receipt,
    RequestStatus,
    SecretStatus,
    State,
    Subscription,
)
from ots.ssrf import MAX_URL_CHARS

MAX_PASSPHRASE_CHARS = 1024
# Values for the examples in the OpenAPI document (keys are 32 URL-safe characters);
# made up, never used by the server (S105).
_SECRET_KEY: Final = "2cBvq0Xl8yQe4pWzT1sJr6uNa9dKfHgM"  # noqa: S105
_RECEIPT_KEY: Final = "Yh3LmR7tQs0Vb5xCz2Wn8kPe4aJd1FgU"
_PASSPHRASE: Final = "correct horse battery staple"  # noqa: S105
_SECRET: Final = "db password: hunter2"  # noqa: S105
_CREATED: Final = "2026-11-25T10:00:00Z"
_WEBHOOK_SECRET: Final = "whsec_q5Zp0V3rK8mX2bN7cL4tY9wE1hJ6dA0sF3gU8iO2pR4"  # noqa: S105
_FINGERPRINT: Final = "3f9a0c1d5e7b2a4c6d8e"
_EXPIRES: Final = "2026-11-25T11:00:00Z"
# A sealed-v1 secret: the first test vector of docs/sealed-v1.md ("hunter2", no passphrase).
_CIPHERTEXT: Final = "ciy3qoIgxULeopgn5yFRCa6g8TuQZRE"
_ENVELOPE: Final = {"v": 1, "nonce": "AAECAwQFBgcICQoL", "kdf": "none"}
_VERIFIER: Final = "xWth1Z8LbBvOTEkgtzasZSaS45nQA-2SyOHS5oC7KbY"
_PROOF: Final = "24Z85TimlkSCeyR0zN_C5xobemSpmVCZqqt5RcqsZaA"
# Path parameters, for the OpenAPI document. No example: a key is minted by the server, so
# any example key would be refused (404) by every server, and the document's examples are
# all accepted by a default server (tests/api/test_openapi.py sends each of them).
PATH_PARAMETERS: Final = {
    "secret_key": "The secret_key from generate_secret (32 URL-safe characters).",
    "receipt_key": "The receipt_key from generate_secret (32 URL-safe characters).",
    "secret_id": "The id of an entry of list_token_secrets (digits).",
    "request_key": "The request_key from create_request (32 URL-safe characters).",
}
# A request's note: short plain text; line breaks and tabs are the only control characters.
MAX_NOTE_CHARS: Final = 500
_NOTE_CONTROLS: Final = frozenset(chr(c) for c in (*range(32), 127)) - {"\n", "\t"}
# request-v1's first test vector (docs/request-v1.md).
_REQUEST_KEY: Final = "Qm4xT8vJp2Lz6WcN0rYs3KdA9fHgE1uB"
_REQUEST_VERIFIER: Final = "g2K-Mo3DRRZ9BXw0dQ6G1NcfErBWopQ3QEKGQYBsA_M"
_ANSWER_ENVELOPE: Final = {
    "v": "r1",
    "nonce": "AAECAwQFBgcICQoL",
    "epk": "BCYe-9NVDPBo7wE-1zZroy9db-VXtLKrzoreWMuhaKVeF4ig"
    "sppWpqvsQITAyWvT3LymtQfzXb6p6YVwhHnYvck",
}
_ANSWER_CIPHERTEXT: Final = "nUfVztcWLu5xW4VW3q0lSpU3UWsFfOA"


def base64url_pattern(size: int | None = None) -> str:
    """Return a pattern of canonical base64url without padding (of ``size`` bytes, if given).

    Canonical: the unused low bits of the last character are zero, so one
    value has one spelling and the schema says exactly what is accepted.
    """
    last = {2: "[AQgw]", 3: "[AEIMQUYcgkosw048]"}
    if size is None:
        return f"^(?:[A-Za-z0-9_-]{{4}})*(?:[A-Za-z0-9_-]{last[2]}|[A-Za-z0-9_-]{{2}}{last[3]})?$"
    chars = sealed.b64_chars(size)
    tail = chars % 4
    if tail == 0:
        return f"^[A-Za-z0-9_-]{{{chars}}}$"
    return f"^[A-Za-z0-9_-]{{{chars - 1}}}{last[tail]}$"


def _example(body: dict[str, Any]) -> ConfigDict:
    """Return a model config whose JSON schema carries ``body`` as its example."""
    return ConfigDict(json_schema_extra={"example": body})


class _Strict(BaseModel):
    # Strict: "60" is not an integer and true is not 1; unknown fields are ignored.
    model_config = ConfigDict(strict=True, extra="ignore")


# Derived from the domain's table of events (mypy sees Any; pydantic and the spec see the list).
NotifiableEvent = Literal[NOTIFIABLE]  # type: ignore[valid-type]


class NotifyRequest(_Strict):
    """Where to send a secret's events, and which (``notify`` of ``POST /generate``)."""

    # No example: whether a URL is accepted depends on DNS and on the settings, so no URL
    # is accepted by every default server (the document's examples all are). The notify
    # field's description shows one in prose instead.

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="https:// (http:// only if OTS_WEBHOOK_ALLOW_HTTP); it must resolve "
        "to public addresses unless OTS_WEBHOOK_ALLOW_PRIVATE.",
    )
    events: list[NotifiableEvent] | None = Field(
        default=None, min_length=1, description="Default: all of them."
    )

    def subscription(self, default: tuple[Event, ...] = SECRET_EVENTS) -> Subscription:
        """The domain's value for this request (``default``: the events when none are named)."""
        return Subscription(
            url=self.url, events=frozenset(default if self.events is None else self.events)
        )


class _Creation(_Strict):
    """What both kinds of ``POST /generate`` body take besides the secret."""

    ttl: int | None = Field(
        default=None,
        description="Seconds until the secret expires; between OTS_MIN_TTL and OTS_MAX_TTL.",
    )
    notify: NotifyRequest | None = Field(
        default=None,
        description="A webhook for this secret's events (422 if OTS_WEBHOOKS=false, or if its "
        'URL is refused), e.g. {"url": "https://hooks.example.com/ots", "events": '
        '["revealed"]} (a URL of yours: it must resolve to a public address).',
    )


class GenerateRequest(_Creation):
    """Body of ``POST /generate`` with a passphrase: the server encrypts the secret."""

    model_config = _example(
        {
            "secret": _SECRET,
            "passphrase": _PASSPHRASE,
            "ttl": 3600,
        }
    )

    # repr=False: a logged or printed request model must not show what it carries.
    secret: str = Field(
        min_length=1,
        repr=False,
        description="The secret; at most OTS_MAX_SECRET_BYTES bytes as UTF-8 "
        "(x-max-secret-bytes; over it: 413 payload_too_large).",
    )
    passphrase: str = Field(min_length=1, max_length=MAX_PASSPHRASE_CHARS, repr=False)


class SealedEnvelope(_Strict):
    """The public parameters of a client-sealed secret (docs/sealed-v1.md), kept as given."""

    model_config = _example(_ENVELOPE)

    # Not Literal[1]: pydantic lets true pass for 1, JSON Schema does not.
    v: int = Field(ge=sealed.VERSION, le=sealed.VERSION, description="The format's version.")
    nonce: str = Field(
        pattern=base64url_pattern(sealed.NONCE_BYTES),
        description="The AES-256-GCM nonce: 12 bytes, base64url.",
    )
    kdf: Literal["none", "argon2id"] = Field(
        description="argon2id: a passphrase is needed besides the link key."
    )


class SealedGenerateRequest(_Creation):
    """Body of ``POST /generate`` in sealed mode: the client encrypted (docs/sealed-v1.md)."""

    model_config = _example(
        {
            "ciphertext": _CIPHERTEXT,
            "envelope": _ENVELOPE,
            "verifier": _VERIFIER,
            "ttl": 3600,
        }
    )

    ciphertext: str = Field(
        # At least one byte of secret besides the 16-byte tag. No maxLength: the limit is the
        # secret's bytes, answered 413 as for a passphrase secret (x-max-secret-bytes).
        min_length=sealed.b64_chars(sealed.TAG_BYTES + 1),
        pattern=base64url_pattern(),
        repr=False,
        description="AES-256-GCM ciphertext and tag, base64url without padding; the secret "
        "inside is at most OTS_MAX_SECRET_BYTES bytes (x-max-secret-bytes; over it: 413 "
        "payload_too_large). The server never sees the plaintext.",
    )
    envelope: SealedEnvelope
    verifier: str = Field(
        pattern=base64url_pattern(sealed.PROOF_BYTES),
        repr=False,
        description="The hash of the access proof (32 bytes, base64url); only its hash is stored.",
    )

    def client_sealed(self) -> ClientSealed:
        """The domain's value: the ciphertext's bytes and the envelope's JSON text."""
        return ClientSealed(
            ciphertext=sealed.b64decode(self.ciphertext),
            envelope=self.envelope.model_dump_json(),
        )

    def verifier_bytes(self) -> bytes:
        """The verifier, decoded."""
        return sealed.b64decode(self.verifier)


class RevealRequest(_Strict):
    """Body of ``POST /secrets/{secret_key}`` for a secret stored with a passphrase."""

    model_config = _example({"passphrase": _PASSPHRASE})

    passphrase: str = Field(min_length=1, max_length=MAX_PASSPHRASE_CHARS, repr=False)


class SealedRevealRequest(_Strict):
    """Body of ``POST /secrets/{secret_key}`` for a client-sealed secret."""

    model_config = _example({"proof": _PROOF})

    proof: str = Field(
        pattern=base64url_pattern(sealed.PROOF_BYTES),
        repr=False,
        description="The access proof (32 bytes, base64url), derived from the link key.",
    )

    def proof_bytes(self) -> bytes:
        """The proof, decoded."""
        return sealed.b64decode(self.proof)


class GenerateResponse(BaseModel):
    """201 answer of ``POST /generate``."""

    model_config = _example(
        {
            "secret_key": _SECRET_KEY,
            "receipt_key": _RECEIPT_KEY,
            "expires_at": _EXPIRES,
            "webhook_secret": _WEBHOOK_SECRET,
        }
    )

    secret_key: str = Field(description="Give it, with the passphrase, to the recipient.")
    receipt_key: str = Field(description="Keep it: it shows what became of the secret.")
    expires_at: datetime = Field(description="UTC, with a Z suffix.")
    webhook_secret: str | None = Field(
        default=None,
        description="Only with notify, shown this once: it keys the Ots-Signature of every event.",
    )

    @classmethod
    def of(cls, created: CreatedSecret) -> GenerateResponse:
        """Describe a stored secret."""
        extra = {} if created.webhook_secret is None else {"webhook_secret": created.webhook_secret}
        return cls(
            secret_key=created.secret_key,
            receipt_key=created.receipt_key,
            expires_at=utc(created.expires_at),
            **extra,
        )


class RevealResponse(BaseModel):
    """200 answer of ``POST /secrets/{secret_key}`` for a secret stored with a passphrase."""

    model_config = _example({"secret": _SECRET})

    secret: str = Field(repr=False)


class AnswerEnvelope(_Strict):
    """The public parameters of a request's answer (docs/request-v1.md), kept as given."""

    model_config = _example(_ANSWER_ENVELOPE)

    # A string, never sealed-v1's number: an old sealed-v1 client refuses it.
    v: str = Field(pattern="^r1$", description="The format's version: r1.")
    nonce: str = Field(
        pattern=base64url_pattern(request_format.NONCE_BYTES),
        description="The AES-256-GCM nonce: 12 bytes, base64url.",
    )
    epk: str = Field(
        # An uncompressed point: 65 bytes whose first is 0x04 ("B", then A to P).
        pattern="^B[A-P][A-Za-z0-9_-]{84}[AEIMQUYcgkosw048]$",
        description="The answerer's ephemeral P-256 public key, uncompressed (0x04, x, y: "
        "65 bytes), base64url. Whether it is on the curve is the asker's client's check: "
        "the server keeps it as given.",
    )


class SealedRevealResponse(BaseModel):
    """200 answer of ``POST /secrets/{secret_key}`` for a client-sealed secret."""

    model_config = _example({"ciphertext": _CIPHERTEXT, "envelope": _ENVELOPE})

    ciphertext: str = Field(repr=False, description="As the creator (or answerer) sent it.")
    envelope: SealedEnvelope | AnswerEnvelope = Field(
        description="sealed-v1's (v 1), or a request's answer's (v r1, docs/request-v1.md)."
    )

    @classmethod
    def of(cls, opened: ClientSealed) -> SealedRevealResponse:
        """Give back what the creator sent."""
        envelope: SealedEnvelope | AnswerEnvelope
        if json.loads(opened.envelope).get("v") == sealed.VERSION:
            envelope = SealedEnvelope.model_validate_json(opened.envelope)
        else:
            envelope = AnswerEnvelope.model_validate_json(opened.envelope)
        return cls(ciphertext=sealed.b64encode(opened.ciphertext), envelope=envelope)


class CreateRequestRequest(_Strict):
    """Body of ``POST /requests``: ask for a secret (docs/request-v1.md)."""

    model_config = _example(
        {"verifier": _REQUEST_VERIFIER, "ttl": 3600, "note": "The staging DB password, please."}
    )

    verifier: str = Field(
        pattern=base64url_pattern(sealed.PROOF_BYTES),
        repr=False,
        description="The verifier of the answer's access proof (32 bytes, base64url).",
    )
    ttl: int | None = Field(
        default=None,
        description="Seconds the request waits for its answer, and then the answer for the "
        "asker; between OTS_MIN_TTL and OTS_MAX_TTL.",
    )
    note: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NOTE_CHARS,
        description="Plain text shown to whoever answers; no control characters but line "
        "breaks and tabs. Stored sealed under the server key.",
        # Stated for clients; enforced by _plain_text, whose message says what is wrong.
        json_schema_extra={"pattern": "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f]*$"},
    )
    notify: NotifyRequest | None = Field(
        default=None,
        description="A webhook for the answer's events (answered, then a secret's), as for "
        "generate_secret.",
    )

    @field_validator("note")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None and not _NOTE_CONTROLS.isdisjoint(value):
            raise ValueError("must be plain text: no control characters but line breaks and tabs")
        return value

    def verifier_bytes(self) -> bytes:
        """The verifier, decoded."""
        return sealed.b64decode(self.verifier)


class CreateRequestResponse(BaseModel):
    """201 answer of ``POST /requests``."""

    model_config = _example(
        {
            "request_key": _REQUEST_KEY,
            "answer_key": _SECRET_KEY,
            "receipt_key": _RECEIPT_KEY,
            "expires_at": _EXPIRES,
        }
    )

    request_key: str = Field(description="Goes in the request link, which you send out.")
    answer_key: str = Field(
        description="The answer's secret_key: goes in the answer link, which you keep."
    )
    receipt_key: str = Field(description="Keep it: requested, answered, revealed or expired.")
    expires_at: datetime = Field(description="When the request stops taking an answer.")
    webhook_secret: str | None = Field(default=None, description="Only with notify, shown once.")

    @classmethod
    def of(cls, created: CreatedRequest) -> CreateRequestResponse:
        """Describe a stored request."""
        extra = {} if created.webhook_secret is None else {"webhook_secret": created.webhook_secret}
        return cls(
            request_key=created.request_key,
            answer_key=created.answer_key,
            receipt_key=created.receipt_key,
            expires_at=utc(created.expires_at),
            **extra,
        )


class RequestStatusResponse(BaseModel):
    """200 answer of ``GET /requests/{request_key}``, and 201 of its answer."""

    model_config = _example(
        {
            "state": "open",
            "expires_at": _EXPIRES,
            "max_secret_bytes": 65536,
            "note": "The staging DB password, please.",
            "answered_at": None,
        }
    )

    state: Literal["open", "answered"]
    expires_at: datetime = Field(
        description="Open: until when it takes an answer. Answered: when the answer expires "
        "(201) or the request (200)."
    )
    max_secret_bytes: int = Field(description="The most bytes an answer may hold.")
    note: str | None = Field(
        default=None, description="The asker's note: plain text, never markup; only while open."
    )
    answered_at: datetime | None = None

    @classmethod
    def of(cls, status: RequestStatus) -> RequestStatusResponse:
        """Describe a request."""
        answered = status.answered_at is not None
        return cls(
            state="answered" if answered else "open",
            expires_at=utc(status.expires_at),
            max_secret_bytes=status.max_secret_bytes,
            note=status.note,
            answered_at=utc(status.answered_at) if status.answered_at is not None else None,
        )


class AnswerRequest(_Strict):
    """Body of ``POST /requests/{request_key}/answer``: the secret sealed to the asker."""

    model_config = _example({"ciphertext": _ANSWER_CIPHERTEXT, "envelope": _ANSWER_ENVELOPE})

    ciphertext: str = Field(
        min_length=sealed.b64_chars(request_format.TAG_BYTES + 1),
        pattern=base64url_pattern(),
        repr=False,
        description="AES-256-GCM ciphertext and tag, base64url; the secret inside is at most "
        "OTS_MAX_SECRET_BYTES bytes (x-max-secret-bytes; over it: 413 payload_too_large).",
    )
    envelope: AnswerEnvelope

    def client_sealed(self) -> ClientSealed:
        """The domain's value: the ciphertext's bytes and the envelope's JSON text."""
        return ClientSealed(
            ciphertext=sealed.b64decode(self.ciphertext),
            envelope=self.envelope.model_dump_json(),
        )


class StatusResponse(BaseModel):
    """200 answer of ``GET /secrets/{secret_key}``."""

    model_config = _example({"state": "pending", "expires_at": _EXPIRES, "attempts_left": 5})

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


class DeliveryView(BaseModel):
    """One webhook delivery, as the receipt shows it."""

    id: str = Field(description="The Ots-Event-Id it is sent with.")
    event: Event
    state: DeliveryState
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status, if any.")
    last_error: str | None
    delivered_at: datetime | None


class NotifyView(BaseModel):
    """The receipt's view of its webhook (only for a secret created with notify)."""

    fingerprint: str = Field(description='The "receipt" field of every event of this secret.')
    events: list[Event]
    deliveries: list[DeliveryView]

    @classmethod
    def of(cls, lookup: str, notify: Notify) -> NotifyView:
        """Describe a subscription and its deliveries."""
        return cls(
            fingerprint=fingerprint(lookup),
            events=sorted(notify.events),
            deliveries=[
                DeliveryView(
                    id=d.event_id,
                    event=d.event,
                    state=d.state,
                    attempts=d.attempts,
                    last_status=d.last_status,
                    last_error=d.last_error,
                    delivered_at=None if d.delivered_at is None else utc(d.delivered_at),
                )
                for d in notify.deliveries
            ],
        )


class ReceiptResponse(BaseModel):
    """200 answer of ``GET /receipts/{receipt_key}``."""

    model_config = _example(
        {
            "state": "revealed",
            "created_at": _CREATED,
            "expires_at": _EXPIRES,
            "revealed_at": "2026-11-25T10:05:00Z",
            "opened_at": "2026-11-25T10:04:12Z",
            "failed_attempts": 1,
            "notify": {
                "fingerprint": _FINGERPRINT,
                "events": ["revealed"],
                "deliveries": [
                    {
                        "id": "5b0c9f1e-1a8e-4c1b-9d55-0b7c3f0e6a12",
                        "event": "revealed",
                        "state": "delivered",
                        "attempts": 1,
                        "last_status": 204,
                        "last_error": None,
                        "delivered_at": "2026-11-25T10:05:01Z",
                    }
                ],
            },
        }
    )

    state: State = Field(
        description="burned also covers a secret destroyed by too many wrong passphrases; "
        "requested and answered are a request's (docs/request-v1.md)."
    )
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    opened_at: datetime | None = Field(
        description="When the secret's link was first checked (a status GET or HEAD, JSON "
        "or page): opened is not revealed. null until then."
    )
    failed_attempts: int
    notify: NotifyView | None = Field(
        default=None, description="Only for a secret created with notify."
    )
    answered_at: datetime | None = Field(
        default=None,
        description="Only for a request (docs/request-v1.md): when its answer came; null "
        "while it is requested.",
    )

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptResponse:
        """Describe a receipt."""
        extra: dict[str, Any] = {}
        if receipt.notify is not None:
            extra["notify"] = NotifyView.of(receipt.lookup, receipt.notify)
        if receipt.answered_at is not None:
            # Only a request's receipt has it: a secret's keeps the contract's fields.
            extra["answered_at"] = utc(receipt.answered_at)
        return cls(
            state=receipt.state,
            created_at=utc(receipt.created_at),
            expires_at=utc(receipt.expires_at),
            revealed_at=None if receipt.revealed_at is None else utc(receipt.revealed_at),
            opened_at=None if receipt.opened_at is None else utc(receipt.opened_at),
            failed_attempts=receipt.failed_attempts,
            **extra,
        )


class BurnResponse(BaseModel):
    """200 answer of ``POST /receipts/{receipt_key}/burn``."""

    model_config = _example({"state": "burned"})

    state: Literal[State.BURNED]


class NotPendingResponse(BaseModel):
    """409 answer of a burn when the secret is no longer pending."""

    error: str
    message: str
    state: Literal[ENDED_STATES]  # type: ignore[valid-type]


class HealthResponse(BaseModel):
    """Answer of ``GET /health``."""

    model_config = _example({"status": "ok", "database": "ok"})

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
