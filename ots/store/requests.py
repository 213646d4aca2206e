"""The requests' room: the ``request`` table, and how an answer becomes a secret.

A request (``docs/request-v1.md``) is one row here and a receipt stored
``requested``. Its one answer is taken by a statement that marks the row
answered only if it was not, in the same transaction as the answer's secret
row, its receipt turning pending and its webhook's ``answered`` outbox row:
of racing answers, exactly one is stored. Every write is a chain of
statements written once for both databases (``TortoiseStore.write_if``),
whose first statement decides whether the rest run.
"""

from __future__ import annotations

import uuid
from typing import Final

from ots.domain import (
    DeliveryState,
    Event,
    NewRequest,
    NewSecret,
    SealedField,
    State,
    StoredRequest,
    Transition,
)
from ots.models import RequestRecord
from ots.store import backend, sql
from ots.store.backend import Row, Step
from ots.store.facade import TortoiseStore

REQUEST_COLUMNS: Final = sql.columns(RequestRecord)
REQUEST_READ: Final = sql.columns(
    RequestRecord, without={"lookup", "created_at", "note_nonce", "note"}
)

INSERT_REQUEST: Final = sql.insert(RequestRecord, REQUEST_COLUMNS, returning="id")
FIND_REQUEST: Final = sql.statement(
    sql.select(RequestRecord, (*REQUEST_READ, "note_nonce", "note"))
    + " WHERE lookup = %s AND expires_at > %s"
)
# The one answer: only a request still open and unexpired is marked, and its note goes.
CLAIM_REQUEST: Final = sql.statement(
    "UPDATE request SET answered_at = %s, note = NULL, note_nonce = NULL "
    "WHERE lookup = %s AND answered_at IS NULL AND expires_at > %s RETURNING id"
)
# The answer's receipt: from requested to pending, expiring with the answer.
ANSWER_RECEIPT: Final = sql.statement(
    "UPDATE receipt SET state = %s, answered_at = %s, expires_at = %s, purge_at = %s "
    "WHERE secret_lookup = %s AND state = %s RETURNING id"
)
# A burn by receipt before the answer: the request goes (a later answer finds nothing).
BURN_REQUEST: Final = sql.statement(
    "DELETE FROM request WHERE secret_lookup = "
    "(SELECT secret_lookup FROM receipt WHERE lookup = %s) "
    "AND answered_at IS NULL AND expires_at > %s RETURNING secret_lookup"
)
END_REQUEST_RECEIPT: Final = sql.statement(
    "UPDATE receipt SET state = %s, purge_at = %s WHERE lookup = %s RETURNING id"
)
_QUEUED: Final = {
    "event_id": "%s",
    "secret_lookup": "secret_lookup",
    "event": "%s",
    "occurred_at": "%s",
    "state": "%s",
    "attempts": "0",
    "next_attempt_at": "%s",
    "lease_until": "0",
}
_QUEUE: Final = (
    f"INSERT INTO delivery ({', '.join(sql.DELIVERY_COLUMNS)}) "  # noqa: S608 - names are ours
    f"SELECT {', '.join(str(v) for v in sql.ordered(sql.DELIVERY_COLUMNS, _QUEUED))} "
    "FROM webhook WHERE secret_lookup = {lookup} AND events LIKE %s RETURNING id"
)
# The event's outbox row, if the webhook of the secret wants it (one webhook at most),
# the secret named by its lookup, or by its receipt's.
QUEUE: Final = sql.statement(_QUEUE.replace("{lookup}", "%s"))
QUEUE_OF_RECEIPT: Final = sql.statement(
    _QUEUE.replace("{lookup}", "(SELECT secret_lookup FROM receipt WHERE lookup = %s)")
)


class RequestStore:
    """The ``request`` table and the answers that become secrets, over the store's writes."""

    def __init__(self, store: TortoiseStore) -> None:
        """Run every statement through ``store``."""
        self._store = store

    async def add(self, new: NewRequest) -> Transition:
        """Store a request, its answer's receipt (``requested``) and its webhook: committed."""
        row = {
            "lookup": new.lookup,
            "secret_lookup": new.secret_lookup,
            "key_id": new.key_id,
            "verifier": new.verifier,
            "note_nonce": None if new.note is None else new.note.nonce,
            "note": None if new.note is None else new.note.ciphertext,
            "created_at": new.created_at,
            "expires_at": new.expires_at,
            "ttl": new.ttl,
            "answered_at": None,
            "quota_tag": new.quota_tag,
            "max_bytes": new.max_bytes,
        }
        receipt = {
            "lookup": new.receipt_lookup,
            "secret_lookup": new.secret_lookup,
            "state": State.REQUESTED.value,
            "created_at": new.created_at,
            "expires_at": new.expires_at,
            "revealed_at": None,
            "failed_attempts": 0,
            "purge_at": new.purge_at,
            "opened_at": None,
            "token_id": new.token_id,
            "answered_at": None,
        }
        steps: list[Step] = [
            (INSERT_REQUEST, sql.ordered(REQUEST_COLUMNS, row)),
            (sql.INSERT_RECEIPT, sql.ordered(sql.RECEIPT_COLUMNS, receipt)),
        ]
        if new.webhook is not None:
            sealed = new.webhook.sealed
            webhook = {
                "secret_lookup": new.secret_lookup,
                "events": backend.event_list(new.webhook.events),
                "key_id": sealed.key_id,
                "nonce": sealed.nonce,
                "sealed": sealed.ciphertext,
            }
            steps.append((sql.INSERT_WEBHOOK, sql.ordered(sql.WEBHOOK_COLUMNS, webhook)))
        await self._store.write_if(steps)
        return Transition(Event.REQUESTED, (new.secret_lookup,), new.created_at)

    async def find(self, lookup: str, now: int) -> StoredRequest | None:
        """Return the unexpired request stored under ``lookup`` (open or answered), or None."""
        rows = await self._store.read(FIND_REQUEST, (lookup, now))
        return _request(rows[0]) if rows else None

    async def answer(self, lookup: str, new: NewSecret) -> Transition | None:
        """Store ``new`` as the request's answer if it is the first; None if it is not.

        One transaction: the request marked answered (its first statement, which
        decides), the secret's row, its receipt turned pending with the answer's
        expiry, and the ``answered`` outbox row if its webhook wants it.
        """
        now = new.created_at
        steps: list[Step] = [
            (CLAIM_REQUEST, (now, lookup, now)),
            (sql.INSERT_SECRET, backend.secret_values(new)),
            (
                ANSWER_RECEIPT,
                (
                    State.PENDING.value,
                    now,
                    new.expires_at,
                    new.purge_at,
                    new.lookup,
                    State.REQUESTED.value,
                ),
            ),
            (QUEUE, _queued(new.lookup, Event.ANSWERED, now)),
        ]
        done = await self._store.write_if(steps)
        if done is None:
            return None
        return Transition(Event.ANSWERED, (new.lookup,), now, bool(done[3]))

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Delete the open request behind a receipt, its note with it: its ``burned``.

        Returns:
            None when there was no open request behind the receipt (answered,
            expired, burned, or none).
        """
        steps: list[Step] = [
            (BURN_REQUEST, (receipt_lookup, now)),
            (END_REQUEST_RECEIPT, (State.BURNED.value, purge_at, receipt_lookup)),
            (QUEUE_OF_RECEIPT, _queued(receipt_lookup, Event.BURNED, now)),
        ]
        done = await self._store.write_if(steps)
        if done is None:
            return None
        lookup = str(done[0][0]["secret_lookup"])
        return Transition(Event.BURNED, (lookup,), now, bool(done[2]))


def _queued(lookup: str, event: Event, now: int) -> tuple[object, ...]:
    return (
        str(uuid.uuid4()),
        event.value,
        now,
        DeliveryState.PENDING.value,
        now,
        lookup,
        f"%,{event.value},%",
    )


def _request(row: Row) -> StoredRequest:
    note = None
    if row["note"] is not None:
        note = SealedField(
            nonce=bytes(row["note_nonce"]), ciphertext=bytes(row["note"]), key_id=row["key_id"]
        )
    return StoredRequest(
        secret_lookup=str(row["secret_lookup"]),
        key_id=str(row["key_id"]),
        verifier=str(row["verifier"]),
        note=note,
        expires_at=int(row["expires_at"]),
        ttl=int(row["ttl"]),
        answered_at=None if row["answered_at"] is None else int(row["answered_at"]),
        quota_tag=row["quota_tag"],
        max_bytes=None if row["max_bytes"] is None else int(row["max_bytes"]),
    )
