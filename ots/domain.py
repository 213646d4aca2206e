"""The vocabulary of ots: the states of a secret and the values passed between layers.

Values only: no behaviour, no I/O, nothing beyond the standard library. The
store, the crypto, the service and the HTTP schemas all import their words
from here, so each is spelled once and no layer reaches into another for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final


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
    REQUESTED = "requested"
    """A request (``docs/request-v1.md``) waiting for its answer: no secret yet."""
    ANSWERED = "answered"
    """A request's answer, waiting to be read; derived: stored pending, with ``answered_at``."""


class Event(StrEnum):
    """What can happen to a secret. Each state change is exactly one event."""

    CREATED = "created"
    CHECKED = "checked"
    """Its status was read (the safe GET); nothing changed."""
    REVEALED = "revealed"
    WRONG_PASSPHRASE = "wrong_passphrase"  # noqa: S105 - an event name
    """A wrong passphrase was counted; the secret stays."""
    DESTROYED = "destroyed"
    """The wrong passphrase that used up the attempts: the secret is gone."""
    BURNED = "burned"
    """Its creator destroyed it."""
    EXPIRED = "expired"
    """The sweeper removed it, unread, after ``expires_at`` (or a request, unanswered)."""
    REQUESTED = "requested"
    """A request for a secret was made; its answer's receipt waits."""
    ANSWERED = "answered"
    """The first answer of a request was stored: it is now a secret, pending."""


@dataclass(frozen=True)
class Meaning:
    """What one event means: how the receipt reads after it, and whether webhooks hear of it."""

    state_after: State
    notifiable: bool

    @property
    def ends(self) -> bool:
        """Whether the secret is gone after it (its row deleted: read, destroyed or expired)."""
        return self.state_after not in _WAITING


# The states in which a secret (or a request's answer) is still to come or to be read.
_WAITING: Final = (State.PENDING, State.REQUESTED, State.ANSWERED)

# The one table of the events: every list below derives from it, and so does what the
# store writes into a receipt when a secret ends (too many wrong passphrases destroy a
# secret, and its creator then sees it as burned: said here, and only here).
EVENTS: Final[Mapping[Event, Meaning]] = {
    Event.CREATED: Meaning(State.PENDING, notifiable=False),
    Event.CHECKED: Meaning(State.PENDING, notifiable=False),
    Event.REVEALED: Meaning(State.REVEALED, notifiable=True),
    Event.WRONG_PASSPHRASE: Meaning(State.PENDING, notifiable=True),
    Event.DESTROYED: Meaning(State.BURNED, notifiable=True),
    Event.BURNED: Meaning(State.BURNED, notifiable=True),
    Event.EXPIRED: Meaning(State.EXPIRED, notifiable=True),
    Event.REQUESTED: Meaning(State.REQUESTED, notifiable=False),
    Event.ANSWERED: Meaning(State.ANSWERED, notifiable=True),
}
# The events a webhook may subscribe to (the default is all of them).
NOTIFIABLE: Final = tuple(event for event, meaning in EVENTS.items() if meaning.notifiable)
# What a secret's webhook hears by default: all but ``answered``, which happens only to a
# request's answer (a request's webhook hears every notifiable event by default).
SECRET_EVENTS: Final = tuple(event for event in NOTIFIABLE if event is not Event.ANSWERED)
# How the receipt reads once each event has happened.
STATE_AFTER: Final = {event: meaning.state_after for event, meaning in EVENTS.items()}
# The states a secret can end in, in the order of the events that lead there.
ENDED_STATES: Final = tuple(
    dict.fromkeys(meaning.state_after for meaning in EVENTS.values() if meaning.ends)
)


class DeliveryState(StrEnum):
    """Where one webhook delivery stands."""

    PENDING = "pending"
    """Not delivered yet; tried again at its next attempt time."""
    DELIVERED = "delivered"
    """The receiver answered 2xx."""
    DEAD = "dead"
    """Given up: the retry period ran out, or the target was refused."""


@dataclass(frozen=True)
class Subscription:
    """What a creator asked to be told: the URL, and which events."""

    url: str
    events: frozenset[Event]


@dataclass(frozen=True)
class SealedField:
    """A value sealed under the server key ``key_id``, bound to its row's lookup.

    A webhook's URL and signing secret, or a request's note (AES-256-GCM).
    """

    nonce: bytes
    ciphertext: bytes
    key_id: str


@dataclass(frozen=True)
class NewWebhook:
    """A subscription to store with its secret."""

    events: frozenset[Event]
    sealed: SealedField


@dataclass(frozen=True)
class DueDelivery:
    """One leased row of the outbox: an event to send, and where (sealed)."""

    id: int
    event_id: str
    lookup: str
    event: Event
    occurred_at: int
    # This attempt's number, from 1.
    attempts: int
    # None when the subscription is gone (purged with its receipt).
    webhook: SealedField | None


@dataclass(frozen=True)
class Finished:
    """What became of one delivery attempt."""

    id: int
    state: DeliveryState
    at: int
    # When to try again (PENDING only).
    retry_at: int
    status: int | None
    error: str | None


@dataclass(frozen=True)
class Notification:
    """One delivery as the receipt shows it."""

    event_id: str
    event: Event
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    delivered_at: int | None


@dataclass(frozen=True)
class Notify:
    """The receipt's view of its subscription: the events, and each delivery so far."""

    events: frozenset[Event]
    deliveries: tuple[Notification, ...]


@dataclass(frozen=True)
class KdfParams:
    """argon2id cost, stored with each secret so defaults can rise later."""

    time_cost: int
    memory_kib: int
    parallelism: int


@dataclass(frozen=True)
class EncryptedSecret:
    """The stored record behind every secret: its ciphertext and what opens it.

    Everything stored for one secret besides its lookup hash and times, in
    either mode (a passphrase, or sealed by its client).
    """

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    # The passphrase's argon2id cost; None for a secret its client sealed.
    kdf: KdfParams | None
    # The server key it was sealed under; None for secrets stored before keys existed.
    key_id: str | None = None
    # Only for a secret its client sealed: its access verifier, keyed under the server key
    # (crypto.keyed_verifier); a bare hex digest in rows of earlier releases.
    verifier: str | None = None

    @property
    def by_client(self) -> bool:
        """Whether its client sealed it (sealed mode), rather than the server (passphrase)."""
        return self.verifier is not None


@dataclass(frozen=True)
class ClientSealed:
    """A secret its client encrypted (sealed mode): bytes the server cannot open.

    ``envelope`` is the JSON text of its public parameters, which the
    recipient needs with the ciphertext; the server keeps it as it was given.
    """

    ciphertext: bytes = field(repr=False)
    envelope: str


@dataclass(frozen=True)
class NewSecret:
    """An encrypted secret to store, with its receipt: lookups, times, and the encrypted bytes."""

    lookup: str
    receipt_lookup: str
    encrypted: EncryptedSecret
    created_at: int
    expires_at: int
    # When the receipt may be deleted if the secret is never read.
    purge_at: int
    webhook: NewWebhook | None = None
    # The keyed pseudonym of the client it counts against (crypto.quota_tag); None: nobody.
    quota_tag: str | None = None
    # The API token it was created with (its holder may list and burn it); None: none.
    token_id: int | None = None


@dataclass(frozen=True)
class NewRequest:
    """A request to store, with its answer's receipt (``requested``) and its webhook."""

    lookup: str
    # The lookup its answer will be stored under (its receipt's secret_lookup).
    secret_lookup: str
    receipt_lookup: str
    key_id: str
    # The answer's access verifier, keyed under the server key (crypto.keyed_verifier).
    verifier: str
    note: SealedField | None
    created_at: int
    expires_at: int
    ttl: int
    purge_at: int
    webhook: NewWebhook | None = None
    quota_tag: str | None = None
    # The token's own byte quota the answer counts against (None: none).
    max_bytes: int | None = None
    token_id: int | None = None


@dataclass(frozen=True)
class StoredRequest:
    """A request as read from its row: open (``answered_at`` None) or answered."""

    secret_lookup: str
    key_id: str
    verifier: str
    note: SealedField | None
    expires_at: int
    ttl: int
    answered_at: int | None
    quota_tag: str | None
    max_bytes: int | None


@dataclass(frozen=True)
class CreatedRequest:
    """What the asker gets back: the request's key, its answer's key, the receipt's."""

    request_key: str
    answer_key: str
    receipt_key: str
    expires_at: int
    webhook_secret: str | None = None


@dataclass(frozen=True)
class RequestStatus:
    """The answering side's safe view of a request: open (with its note) or answered."""

    expires_at: int
    max_secret_bytes: int
    note: str | None = field(default=None, repr=False)
    # When it was answered; None while it is open.
    answered_at: int | None = None


@dataclass(frozen=True)
class Destruction:
    """When wrong passphrases destroy a secret (the receipt reads ``STATE_AFTER[DESTROYED]``)."""

    after_failures: int
    # When the ended receipt may be deleted.
    purge_at: int


@dataclass(frozen=True)
class Transition:
    """What one committed write did: which event happened, to which secrets, and when.

    A store write that changes a secret's state returns the transition its
    transaction committed, and that is what gets reported (audit log,
    metrics): an event is decided once, where it is written. ``queued``
    tells whether the same transaction queued webhook deliveries (outbox rows).
    """

    event: Event
    lookups: tuple[str, ...]
    at: int
    queued: bool = False


@dataclass(frozen=True)
class Failure:
    """A wrong passphrase counted: the count after it, and the transition committed."""

    failed_attempts: int
    transition: Transition


@dataclass(frozen=True)
class StoredSecret:
    """A live secret as read from its row."""

    id: int
    encrypted: EncryptedSecret
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
    # When the recipient's link was first checked; None until then.
    opened_at: int | None = None
    # The secret's lookup hash (the fingerprint is made from it).
    lookup: str = ""
    # Only for a secret created with ``notify``.
    notify: Notify | None = None
    # Only for a request's answer: when it was stored (None: not yet, or no request).
    answered_at: int | None = None


@dataclass(frozen=True)
class CreatedSecret:
    """What the creator gets back: both keys and when the secret expires."""

    secret_key: str
    receipt_key: str
    expires_at: int
    # Only when the secret was created with ``notify``: shown this once.
    webhook_secret: str | None = None


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
class ClientTotals:
    """What one client has stored: its live secrets and their ciphertext bytes."""

    live_secrets: int
    ciphertext_bytes: int


@dataclass(frozen=True)
class Swept:
    """What one sweep removed: expired secrets, and receipts past their retention."""

    secrets: int
    receipts: int
    # Requests past their expiry (answered or not).
    requests: int = 0

    @property
    def total(self) -> int:
        """Rows removed in all."""
        return self.secrets + self.receipts + self.requests
