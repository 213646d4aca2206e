"""What a database backend provides, and the plain code both backends share.

The façade (``ots.store.TortoiseStore``) picks one backend when the store
opens and hands every call to it; a backend runs the statements of
``ots.store.sql`` its database's way. What is the same on both databases
lives here: the values of a new row in the models' column order, rows read
back as ``ots.domain`` values, and which outbox rows an event makes.

A write that changes a secret's state returns a ``Transition``: the event
its transaction committed, for which secrets, and whether it queued
webhook deliveries. Events are chosen here and in the backends' writes,
nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from ots.domain import (
    ClientTotals,
    DeliveryState,
    Destruction,
    DueDelivery,
    EncryptedSecret,
    Event,
    Failure,
    Finished,
    KdfParams,
    NewSecret,
    Notification,
    Notify,
    Receipt,
    SealedField,
    State,
    StoredSecret,
    StoredTotals,
    Transition,
)
from ots.store import sql

V = TypeVar("V")


class Row(Protocol):
    """A row as either driver returns it: its values by column name."""

    def __getitem__(self, key: str, /) -> Any:
        """Return the value of column ``key``."""


# One statement of ``ots.store.sql``'s kind (``%s`` marks) and its values.
Step = tuple[str, Sequence[object]]


class Backend(Protocol):
    """One database's way of running the store's statements (see ``TortoiseStore``)."""

    async def insert_secret(self, new: NewSecret) -> Transition:
        """Store a secret, its pending receipt and its webhook in one transaction."""

    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None."""

    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Remove the unexpired secret for its one reader; None if it was not there."""

    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Remove the unexpired sealed secret whose key and verifier match; None if none does."""

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Remove the unexpired secret behind a receipt; None if there was none."""

    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Return the receipt unless it is due for purging."""

    async def check(self, lookup: str, now: int) -> int:
        """Mark the receipt of ``lookup`` opened at ``now`` unless it was; return its failures."""

    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Count one wrong passphrase, destroying as ``destruction`` says; None if gone."""

    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """Delete at most ``batch`` expired secrets: their ``expired`` transition."""

    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """Delete at most ``batch`` expired requests: how many, and the unanswered's ``expired``."""

    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts past retention, their webhooks and deliveries."""

    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """Lease at most ``limit`` due deliveries until ``until``, counting the attempt."""

    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give back unused leases taken ``until``; return how many."""

    async def finish_delivery(self, finished: Finished) -> None:
        """Record what became of one delivery attempt, and release its lease."""

    async def totals(self, now: int) -> StoredTotals:
        """Return the live secrets, their ciphertext bytes, and the receipts kept."""

    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Return the live secrets stored under any of ``tags``, and their bytes."""

    async def erase_ended(self) -> bool:
        """Make deleted secrets physically unrecoverable; True when the pass completed."""

    async def read(self, template: str, values: Sequence[object]) -> list[Row]:
        """Run one reading statement of ``ots.store.sql``'s (``%s`` marks); return its rows."""

    async def write(self, template: str, values: Sequence[object]) -> list[Row]:
        """Run one writing statement on its own; return the rows of its ``RETURNING``."""

    async def write_if(self, steps: Sequence[Step]) -> list[list[Row]] | None:
        """Run ``steps`` in one transaction, or only the first if it returns no row.

        Returns:
            Each step's ``RETURNING`` rows; None when the first returned none.
        """

    async def ping(self) -> None:
        """Run a trivial query."""

    async def recycle(self) -> None:
        """Drop pooled connections that may have died with the server."""

    async def close(self) -> None:
        """Close the connections the backend opened itself."""


def secret_values(new: NewSecret) -> list[object]:
    """Return the ``secret`` row of ``new`` in ``sql.SECRET_COLUMNS`` order."""
    encrypted = new.encrypted
    # No passphrase cost for a secret its client sealed: 0 (argon2 needs t >= 1).
    kdf = encrypted.kdf or KdfParams(0, 0, 0)
    row = {
        "lookup": new.lookup,
        "salt": encrypted.salt,
        "nonce": encrypted.nonce,
        "ciphertext": encrypted.ciphertext,
        "kdf_time_cost": kdf.time_cost,
        "kdf_memory_kib": kdf.memory_kib,
        "kdf_parallelism": kdf.parallelism,
        "key_id": encrypted.key_id,
        "verifier": encrypted.verifier,
        "created_at": new.created_at,
        "expires_at": new.expires_at,
        "quota_tag": new.quota_tag,
    }
    return sql.ordered(sql.SECRET_COLUMNS, row)


def receipt_values(new: NewSecret) -> list[object]:
    """Return the pending ``receipt`` row of ``new`` in ``sql.RECEIPT_COLUMNS`` order."""
    row = {
        "lookup": new.receipt_lookup,
        "secret_lookup": new.lookup,
        "state": State.PENDING.value,
        "created_at": new.created_at,
        "expires_at": new.expires_at,
        "revealed_at": None,
        "failed_attempts": 0,
        "purge_at": new.purge_at,
        "opened_at": None,
        "token_id": new.token_id,
        "answered_at": None,
    }
    return sql.ordered(sql.RECEIPT_COLUMNS, row)


def webhook_values(new: NewSecret) -> list[object] | None:
    """Return the ``webhook`` row of ``new`` in ``sql.WEBHOOK_COLUMNS`` order (None: none)."""
    if new.webhook is None:
        return None
    sealed = new.webhook.sealed
    row = {
        "secret_lookup": new.lookup,
        "events": event_list(new.webhook.events),
        "key_id": sealed.key_id,
        "nonce": sealed.nonce,
        "sealed": sealed.ciphertext,
    }
    return sql.ordered(sql.WEBHOOK_COLUMNS, row)


def delivery_values(lookup: str, event: Event, now: int) -> list[object]:
    """Return a new outbox row for ``event``, due now, in ``sql.DELIVERY_COLUMNS`` order."""
    row = {
        "event_id": str(uuid.uuid4()),
        "secret_lookup": lookup,
        "event": event.value,
        "occurred_at": now,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": 0,
    }
    return sql.ordered(sql.DELIVERY_COLUMNS, row)


def event_list(events: Iterable[Event]) -> str:
    """Return the ``webhook.events`` text: the events between commas (``,burned,revealed,``)."""
    # Between commas, so that membership is a substring test (a LIKE on PostgreSQL).
    return "," + ",".join(sorted(event.value for event in events)) + ","


def wanting(webhooks: Iterable[Row], event: Event) -> list[str]:
    """Return the lookups whose webhook (``secret_lookup``, ``events``) wants ``event``."""
    return [str(w["secret_lookup"]) for w in webhooks if f",{event.value}," in w["events"]]


def chunks(values: Sequence[V]) -> Iterator[list[V]]:
    """Split ``values`` into IN lists of at most ``sql.LOOKUPS_PER_QUERY``."""
    # Whatever OTS_SWEEP_BATCH is: SQLite takes at most 32,766 parameters.
    size = sql.LOOKUPS_PER_QUERY
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def stored_secret(row: Row) -> StoredSecret:
    """Return a live secret from its row (``sql.SECRET_READ``)."""
    cost = (row["kdf_time_cost"], row["kdf_memory_kib"], row["kdf_parallelism"])
    return StoredSecret(
        id=int(row["id"]),
        encrypted=EncryptedSecret(
            salt=bytes(row["salt"]),
            nonce=bytes(row["nonce"]),
            ciphertext=bytes(row["ciphertext"]),
            kdf=None if cost[0] == 0 else KdfParams(*(int(part) for part in cost)),
            key_id=row["key_id"],
            verifier=row["verifier"],
        ),
        created_at=int(row["created_at"]),
        expires_at=int(row["expires_at"]),
    )


def receipt(row: Row, notify: Notify | None) -> Receipt:
    """Return a receipt from its row (``sql.RECEIPT_READ``), in its stored state."""
    return Receipt(
        state=State(row["state"]),
        created_at=int(row["created_at"]),
        expires_at=int(row["expires_at"]),
        revealed_at=None if row["revealed_at"] is None else int(row["revealed_at"]),
        failed_attempts=int(row["failed_attempts"]),
        opened_at=None if row["opened_at"] is None else int(row["opened_at"]),
        lookup=str(row["secret_lookup"]),
        notify=notify,
        answered_at=None if row["answered_at"] is None else int(row["answered_at"]),
    )


def notify(events: str, deliveries: Iterable[Row]) -> Notify:
    """Return the receipt's view of a subscription: its events, and each delivery so far."""
    return Notify(
        events=frozenset(Event(e) for e in events.strip(",").split(",")),
        deliveries=tuple(
            Notification(
                event_id=str(row["event_id"]),
                event=Event(row["event"]),
                state=DeliveryState(row["state"]),
                attempts=int(row["attempts"]),
                last_status=row["last_status"],
                last_error=row["last_error"],
                delivered_at=row["delivered_at"],
            )
            for row in deliveries
        ),
    )


def due_deliveries(leased: Iterable[Row], webhooks: Iterable[Row]) -> list[DueDelivery]:
    """Return leased outbox rows (``sql.LEASED_READ``) with their sealed webhooks, by id."""
    sealed = {
        str(w["secret_lookup"]): SealedField(
            nonce=bytes(w["nonce"]), ciphertext=bytes(w["sealed"]), key_id=str(w["key_id"])
        )
        for w in webhooks
    }
    return [
        DueDelivery(
            id=int(row["id"]),
            event_id=str(row["event_id"]),
            lookup=str(row["secret_lookup"]),
            event=Event(row["event"]),
            occurred_at=int(row["occurred_at"]),
            attempts=int(row["attempts"]),
            webhook=sealed.get(str(row["secret_lookup"])),
        )
        for row in sorted(leased, key=lambda row: int(row["id"]))
    ]


def finish_values(finished: Finished) -> list[object]:
    """Return the values of ``sql.FINISH`` for one delivery attempt's outcome."""
    delivered = finished.state is DeliveryState.DELIVERED
    return [
        finished.state.value,
        finished.retry_at,
        finished.status,
        finished.error,
        finished.at if delivered else None,
        finished.id,
    ]


def unanswered(rows: Sequence[Row]) -> tuple[str, ...]:
    """The answers' lookups of the deleted request ``rows`` that were never answered."""
    return tuple(str(row["secret_lookup"]) for row in rows if row["answered_at"] is None)
