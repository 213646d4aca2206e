"""The SQLite backend: every write through the group commit, every read on read-only connections.

Writes are functions run on the writer's thread inside a ``GroupCommit``
transaction (``BEGIN IMMEDIATE``: the write lock before anything is read, so
nothing read there goes stale, and two writers never deadlock); each
function is the whole of one store write. Reads go through ``SqliteReader``
and never wait behind a commit: those by key (a secret, a receipt, a check)
on the event loop's thread, counts and lists on the reader's thread. Statement text is
``ots.store.sql``'s, with ``?`` marks.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

from tortoise.backends.sqlite.client import SqliteClient

from ots.domain import (
    STATE_AFTER,
    ClientTotals,
    DeliveryState,
    Destruction,
    DueDelivery,
    Event,
    Failure,
    Finished,
    NewSecret,
    Receipt,
    State,
    StoredSecret,
    StoredTotals,
    Transition,
)
from ots.store import backend, sql
from ots.store.sqlite_engine import GroupCommit, SqliteReader, SqliteThread, WriterQueue

PENDING = DeliveryState.PENDING.value


def lite(template: str, count: int = 0) -> str:
    """Return ``template`` with SQLite's marks (``?``), ``{marks}`` filled with ``count``."""
    return sql.render(template, count=count).replace("%s", "?")


_lite_once = functools.lru_cache(maxsize=None)(lite)

INSERT_SECRET = lite(sql.INSERT_SECRET)
INSERT_RECEIPT = lite(sql.INSERT_RECEIPT)
INSERT_WEBHOOK = lite(sql.INSERT_WEBHOOK)
INSERT_DELIVERY = lite(sql.INSERT_DELIVERY)
FIND_LIVE = lite(sql.FIND_LIVE)
FIND_RECEIPT = lite(sql.FIND_RECEIPT)
CHECKED = lite(sql.CHECKED)
MARK_OPENED = lite(sql.MARK_OPENED)
SUBSCRIBED = lite(sql.SUBSCRIBED)
NOTIFICATIONS = lite(sql.NOTIFICATIONS)
DELETE_SECRET = lite(sql.DELETE_SECRET)
DELETE_SECRET_OF_RECEIPT = lite(sql.DELETE_SECRET_OF_RECEIPT)
DELETE_SEALED = lite(sql.DELETE_SEALED)
END_RECEIPT = lite(sql.END_RECEIPT)
COUNT_FAILURE = lite(sql.COUNT_FAILURE)
DELETE_EXPIRED = lite(sql.DELETE_EXPIRED)
DELETE_EXPIRED_REQUESTS = lite(sql.DELETE_EXPIRED_REQUESTS)
DELETE_PURGED = lite(sql.DELETE_PURGED)
ANY_DUE = lite(sql.ANY_DUE)
LEASE = lite(sql.LEASE)
FINISH = lite(sql.FINISH)
TOTALS = lite(sql.TOTALS)
SELECT_ONE = lite(sql.SELECT_ONE)


class SqliteBackend:
    """The store's statements on one SQLite file, through connections of the store's own."""

    def __init__(self, path: str, pragmas: dict[str, object]) -> None:
        """Write and read the file at ``path``; the writer gets ``pragmas`` (Tortoise's)."""
        self._writer = SqliteThread(path, list(pragmas.items()), "ots-sqlite-write")
        self._commits = GroupCommit(self._writer, WriterQueue(path))
        self._reader = SqliteReader(path)

    @classmethod
    def of(cls, connection: SqliteClient) -> SqliteBackend:
        """The backend for the file of Tortoise's ``connection``, with its pragmas."""
        return cls(connection.filename, connection.pragmas)

    async def insert_secret(self, new: NewSecret) -> Transition:
        """Insert the secret, its receipt and its webhook: one write of the group."""
        rows = [
            (INSERT_SECRET, backend.secret_values(new)),
            (INSERT_RECEIPT, backend.receipt_values(new)),
        ]
        webhook = backend.webhook_values(new)
        if webhook is not None:
            rows.append((INSERT_WEBHOOK, webhook))
        await self._commits.run(functools.partial(_insert, rows))
        return Transition(Event.CREATED, (new.lookup,), new.created_at)

    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Read the live secret by its key, on the event loop's thread."""
        rows = await self._reader.lookup(FIND_LIVE, (lookup, now))
        return backend.stored_secret(rows[0]) if rows else None

    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Delete the secret (the transaction's first statement), end its receipt, queue."""
        del lookup  # the deleted row names its own
        return await self._commits.run(functools.partial(_claim, secret_id, now, purge_at))

    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Delete the matching row (the first statement), end its receipt, queue."""
        claim = functools.partial(_claim_sealed, lookup, key_id, verifier, now, purge_at)
        return await self._commits.run(claim)

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Delete the receipt's secret (the first statement), end the receipt, queue."""
        return await self._commits.run(functools.partial(_burn, receipt_lookup, now, purge_at))

    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Read the receipt, and its subscription's deliveries, by key."""
        rows = await self._reader.lookup(FIND_RECEIPT, (receipt_lookup, now))
        if not rows:
            return None
        lookup = rows[0]["secret_lookup"]
        subscribed = await self._reader.lookup(SUBSCRIBED, (lookup,))
        notify = None
        if subscribed:
            deliveries = await self._reader.lookup(NOTIFICATIONS, (lookup,))
            notify = backend.notify(subscribed[0]["events"], deliveries)
        return backend.receipt(rows[0], notify)

    async def check(self, lookup: str, now: int) -> int:
        """Read by key; the first check's mark is a write of the group."""
        rows = await self._reader.lookup(CHECKED, (lookup,))
        if not rows:
            return 0
        if rows[0]["opened_at"] is None:
            await self._commits.run(functools.partial(_mark_opened, lookup, now))
        return int(rows[0]["failed_attempts"])

    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Count (the first statement, a write), then destroy if it is the last attempt."""
        fail = functools.partial(_fail, secret_id, lookup, now, destruction)
        return await self._commits.run(fail)

    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """One batch: a write of the group, so writers wait in their queue, not SQLite's."""
        return await self._commits.run(functools.partial(_expire, now, batch))

    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """One batch and the outbox rows of the unanswered, as one write of the group."""
        return await self._commits.run(functools.partial(_expire_requests, now, batch))

    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """One batch of receipts, with their webhooks and deliveries."""
        return await self._commits.run(functools.partial(_purge, now, batch))

    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """A cheap read first (most looks find nothing), then the lease as a write."""
        if not await self._reader.fetch(ANY_DUE, (PENDING, now, now)):
            return []
        return await self._commits.run(functools.partial(_lease, now, until, limit))

    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give the leases back: a write of the group."""
        return await self._commits.run(functools.partial(_release, list(ids), until, retry_at))

    async def finish_delivery(self, finished: Finished) -> None:
        """Record the outcome: a write of the group."""
        values = backend.finish_values(finished)
        await self._commits.run(lambda db: db.execute(FINISH, values).rowcount)

    async def totals(self, now: int) -> StoredTotals:
        """Count on the reader's thread."""
        row = (await self._reader.fetch(TOTALS, (now, now)))[0]
        return StoredTotals(int(row["live"]), int(row["size"]), int(row["receipts"]))

    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Count one client's rows on the reader's thread: it may run on a create."""
        query = lite(sql.CLIENT_TOTALS, len(tags))
        rows = await self._reader.fetch(query, (now, *tags, *tags, now))
        return ClientTotals(int(rows[0]["live"]), int(rows[0]["size"]))

    async def erase_ended(self) -> bool:
        """A ``TRUNCATE`` checkpoint: the zeroed pages into the file, the WAL emptied.

        With ``secure_delete`` SQLite zeroes deleted cells and pages, but the
        old pages stay in the WAL until a checkpoint. It runs on the writer's
        connection in this worker's turn of the queue, outside a transaction
        (SQLite refuses one inside); it cannot complete while another
        connection reads an older snapshot, and then reports busy.
        """
        return await self._commits.run_alone(_checkpoint)

    async def read(self, template: str, values: Sequence[object]) -> list[backend.Row]:
        """Run one reading statement on the reader's thread."""
        return list(await self._reader.fetch(_lite_once(template), tuple(values)))

    async def write(self, template: str, values: Sequence[object]) -> list[backend.Row]:
        """Run one writing statement as a write of the group."""
        query, params = _lite_once(template), tuple(values)
        return list(await self._commits.run(lambda db: db.execute(query, params).fetchall()))

    async def write_if(self, steps: Sequence[backend.Step]) -> list[list[backend.Row]] | None:
        """Run the steps as one write of the group; the first decides whether the rest run."""
        prepared = [(_lite_once(query), tuple(values)) for query, values in steps]
        return await self._commits.run(functools.partial(_write_if, prepared))

    async def ping(self) -> None:
        """Ask the reader's thread: a stuck one makes the store unready."""
        await self._reader.fetch(SELECT_ONE, ())

    async def recycle(self) -> None:
        """Nothing pooled: a connection that failed is still the file's."""

    async def close(self) -> None:
        """Close the read connections, then the writer's (after the writes queued on it)."""
        await self._reader.close()
        await self._writer.close()


# The writes, each run on the writer's thread inside a group's transaction.


def _insert(rows: list[tuple[str, list[object]]], db: sqlite3.Connection) -> None:
    for query, values in rows:
        db.execute(query, values)


def _claim(secret_id: int, now: int, purge_at: int, db: sqlite3.Connection) -> Transition | None:
    gone = db.execute(DELETE_SECRET, (secret_id, now)).fetchall()
    if not gone:
        return None
    return _end(db, gone[0]["lookup"], Event.REVEALED, now, purge_at, now)


def _claim_sealed(
    lookup: str, key_id: str, verifier: str, now: int, purge_at: int, db: sqlite3.Connection
) -> tuple[StoredSecret, Transition] | None:
    gone = db.execute(DELETE_SEALED, (lookup, now, key_id, verifier)).fetchall()
    if not gone:
        return None
    return backend.stored_secret(gone[0]), _end(db, lookup, Event.REVEALED, now, purge_at, now)


def _burn(
    receipt_lookup: str, now: int, purge_at: int, db: sqlite3.Connection
) -> Transition | None:
    gone = db.execute(DELETE_SECRET_OF_RECEIPT, (receipt_lookup, now)).fetchall()
    if not gone:
        return None
    return _end(db, gone[0]["lookup"], Event.BURNED, now, purge_at)


def _fail(
    secret_id: int, lookup: str, now: int, destruction: Destruction, db: sqlite3.Connection
) -> Failure | None:
    # A pending, unexpired receipt means the secret is still there.
    counted = db.execute(COUNT_FAILURE, (lookup, State.PENDING.value, now)).fetchall()
    if not counted:
        return None
    count = int(counted[0]["failed_attempts"])
    if count < destruction.after_failures:
        queued = _enqueue(db, [lookup], Event.WRONG_PASSPHRASE, now)
        return Failure(count, Transition(Event.WRONG_PASSPHRASE, (lookup,), now, queued))
    db.execute(DELETE_SECRET, (secret_id, now)).fetchall()
    ended = _end(db, lookup, Event.DESTROYED, now, destruction.purge_at)
    return Failure(count, ended)


def _end(
    db: sqlite3.Connection,
    lookup: str,
    event: Event,
    now: int,
    purge_at: int,
    revealed_at: int | None = None,
) -> Transition:
    # The secret's row is gone: its receipt tells how, and its webhook is told.
    db.execute(END_RECEIPT, (STATE_AFTER[event].value, purge_at, revealed_at, lookup))
    return Transition(event, (lookup,), now, _enqueue(db, [lookup], event, now))


def _mark_opened(lookup: str, now: int, db: sqlite3.Connection) -> None:
    db.execute(MARK_OPENED, (now, lookup, State.PENDING.value))


def _expire(now: int, batch: int, db: sqlite3.Connection) -> Transition:
    gone = db.execute(DELETE_EXPIRED, (now, batch)).fetchall()
    lookups = tuple(str(row["lookup"]) for row in gone)
    return Transition(Event.EXPIRED, lookups, now, _enqueue(db, lookups, Event.EXPIRED, now))


def _expire_requests(now: int, batch: int, db: sqlite3.Connection) -> tuple[int, Transition]:
    gone = db.execute(DELETE_EXPIRED_REQUESTS, (now, batch)).fetchall()
    lookups = backend.unanswered(gone)
    return len(gone), Transition(
        Event.EXPIRED, lookups, now, _enqueue(db, lookups, Event.EXPIRED, now)
    )


def _purge(now: int, batch: int, db: sqlite3.Connection) -> int:
    lookups = [str(row["secret_lookup"]) for row in db.execute(DELETE_PURGED, (now, batch))]
    for chunk in backend.chunks(lookups):
        db.execute(lite(sql.DELETE_WEBHOOKS_OF, len(chunk)), chunk)
        db.execute(lite(sql.DELETE_DELIVERIES_OF, len(chunk)), chunk)
    return len(lookups)


def _lease(now: int, until: int, limit: int, db: sqlite3.Connection) -> list[DueDelivery]:
    leased = db.execute(LEASE, (until, PENDING, now, now, limit)).fetchall()
    lookups = sorted({str(row["secret_lookup"]) for row in leased})
    webhooks: list[sqlite3.Row] = []
    for chunk in backend.chunks(lookups):
        webhooks += db.execute(lite(sql.SEALED_WEBHOOKS_OF, len(chunk)), chunk).fetchall()
    return backend.due_deliveries(leased, webhooks)


def _release(ids: list[int], until: int, retry_at: int, db: sqlite3.Connection) -> int:
    released = 0
    for chunk in backend.chunks(ids):
        query = lite(sql.RELEASE, len(chunk))
        released += db.execute(query, (retry_at, *chunk, until, PENDING)).rowcount
    return released


def _enqueue(db: sqlite3.Connection, lookups: Sequence[str], event: Event, now: int) -> bool:
    # An outbox row of ``event`` for each of ``lookups`` whose webhook wants it.
    wanted: list[str] = []
    for chunk in backend.chunks(lookups):
        webhooks = db.execute(lite(sql.WEBHOOKS_OF, len(chunk)), chunk).fetchall()
        wanted += backend.wanting(webhooks, event)
    db.executemany(INSERT_DELIVERY, [backend.delivery_values(w, event, now) for w in wanted])
    return bool(wanted)


def _write_if(
    steps: list[tuple[str, tuple[object, ...]]], db: sqlite3.Connection
) -> list[list[backend.Row]] | None:
    results: list[list[backend.Row]] = []
    for query, values in steps:
        results.append(list(db.execute(query, values).fetchall()))
        if not results[0]:
            return None
    return results


def _checkpoint(db: sqlite3.Connection) -> bool:
    rows = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return not rows or rows[0][0] == 0
