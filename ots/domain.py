"""The vocabulary of ots: the states of a secret and the values passed between layers.

Values only: no behaviour, no I/O, nothing beyond the standard library. The
store, the crypto, the service and the HTTP schemas all import their words
from here, so each is spelled once and no layer reaches into another for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """What became of a secret, as its receipt tells the creator."""

    PENDING = "pending"
    """Stored and unexpired: waiting to be read."""
    REVEALED = "revealed"
    """Read once, and gone."""
    BURNED = "burned"
    """Destroyed by its creator, or by too many wrong passphrases."""
    EXPIRED = "expired"
    """Never read before ``expires_at``; derived, a row is never stored in this state."""


@dataclass(frozen=True)
class KdfParams:
    """argon2id cost, stored with each secret so defaults can rise later."""

    time_cost: int
    memory_kib: int
    parallelism: int


@dataclass(frozen=True)
class Sealed:
    """Everything stored for one secret besides its lookup hash and times."""

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    kdf: KdfParams
    # The server key it was sealed under; None for secrets stored before keys existed.
    key_id: str | None = None


@dataclass(frozen=True)
class NewSecret:
    """A sealed secret to store, with its receipt: lookups, times, and the sealed bytes."""

    lookup: str
    receipt_lookup: str
    sealed: Sealed
    created_at: int
    expires_at: int
    # When the receipt may be deleted if the secret is never read.
    purge_at: int


@dataclass(frozen=True)
class Destruction:
    """When wrong passphrases destroy a secret, and how its receipt then reads."""

    after_failures: int
    reads_as: State
    # When the ended receipt may be deleted.
    purge_at: int


@dataclass(frozen=True)
class StoredSecret:
    """A live secret as read from its row."""

    id: int
    sealed: Sealed
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class Receipt:
    """The creator's view of a secret: its state and times, never its content."""

    state: State
    created_at: int
    expires_at: int
    revealed_at: int | None
    failed_attempts: int


@dataclass(frozen=True)
class CreatedSecret:
    """What the creator gets back: both keys and when the secret expires."""

    secret_key: str
    receipt_key: str
    expires_at: int


@dataclass(frozen=True)
class SecretStatus:
    """The recipient's safe view of a pending secret."""

    expires_at: int
    attempts_left: int


@dataclass(frozen=True)
class StoredTotals:
    """What the database holds: live secrets, their ciphertext bytes, and receipts kept."""

    live_secrets: int
    ciphertext_bytes: int
    receipts: int


@dataclass(frozen=True)
class Swept:
    """What one sweep removed: expired secrets, and receipts past their retention."""

    secrets: int
    receipts: int

    @property
    def total(self) -> int:
        """Rows removed in all."""
        return self.secrets + self.receipts
