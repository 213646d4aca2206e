"""Request and response bodies of ``/tokens/self``: a token holder's own list.

An entry names a secret by its receipt's ``id`` (good for this token only)
and shows what a receipt shows; it never holds a key that opens anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import BaseModel, Field

from ots.api.schemas import utc
from ots.crypto import fingerprint
from ots.domain import Event, Receipt, State

# Entries per page: the default, and the most a client may ask for.
PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 200
_CREATED: Final = "2026-11-25T10:00:00Z"
_EXPIRES: Final = "2026-11-25T11:00:00Z"


class NotifySummary(BaseModel):
    """What a listed secret's webhook subscribes to (its deliveries are on the receipt)."""

    fingerprint: str = Field(description='The "receipt" field of every event of this secret.')
    events: list[Event]


class ListedSecret(BaseModel):
    """One secret made with the token: its state and times, never a key."""

    id: int = Field(description="Names the secret in POST /tokens/self/secrets/{id}/burn.")
    state: State = Field(
        description="burned also covers a secret destroyed by too many wrong passphrases."
    )
    created_at: datetime
    expires_at: datetime
    revealed_at: datetime | None
    opened_at: datetime | None = Field(
        description="When the secret's link was first checked; null until then."
    )
    failed_attempts: int
    notify: NotifySummary | None = Field(
        default=None, description="Only for a secret created with notify."
    )

    @classmethod
    def of(cls, receipt_id: int, receipt: Receipt) -> ListedSecret:
        """Describe one listed receipt."""
        extra = {}
        if receipt.notify is not None:
            extra["notify"] = NotifySummary(
                fingerprint=fingerprint(receipt.lookup), events=sorted(receipt.notify.events)
            )
        return cls(
            id=receipt_id,
            state=receipt.state,
            created_at=utc(receipt.created_at),
            expires_at=utc(receipt.expires_at),
            revealed_at=None if receipt.revealed_at is None else utc(receipt.revealed_at),
            opened_at=None if receipt.opened_at is None else utc(receipt.opened_at),
            failed_attempts=receipt.failed_attempts,
            **extra,
        )


class TokenSecretsResponse(BaseModel):
    """200 answer of ``GET /tokens/self/secrets``: newest first, a page at a time."""

    model_config = {
        "json_schema_extra": {
            "example": {
                "secrets": [
                    {
                        "id": 42,
                        "state": "pending",
                        "created_at": _CREATED,
                        "expires_at": _EXPIRES,
                        "revealed_at": None,
                        "opened_at": None,
                        "failed_attempts": 0,
                    }
                ],
                "next": None,
            }
        }
    }

    secrets: list[ListedSecret]
    next: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page."
    )
