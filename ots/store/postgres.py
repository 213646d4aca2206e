"""The PostgreSQL backend: one statement where it can be, a short transaction where not.

Runs on Tortoise's asyncpg pool. A create is one statement (its inserts as
data-modifying CTEs); so are a reveal and a burn: the ``DELETE`` locks the
row it removes (a racing one waits for that lock, then finds nothing), and
the receipt's update and the outbox row are written by the same statement,
in the same transaction: one round trip. Locks are always taken secret
first, receipt second, so two writers never deadlock. Subqueries that pick
rows to change skip the rows other workers hold (``SKIP LOCKED``).
Statement text is ``ots.store.sql``'s, with ``$n`` marks.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

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
from ots.store.leases import Leases

PENDING = DeliveryState.PENDING.value
ONLY_HERE = ("postgres",)
# How an ending statement runs: on a leased connection, or in the caller's transaction.
Rows = Callable[[str, list[object]], Awaitable[list[dict[str, Any]]]]


def pg(template: str, count: int = 0) -> str:
    """Return ``template`` with asyncpg's marks ($1, $2 …), ``{marks}`` filled with ``count``."""
    text = sql.render(template, count=count, locking=sql.SKIP_LOCKED)
    first, *rest = text.split("%s")
    return first + "".join(f"${number}{part}" for number, part in enumerate(rest, 1))


def _one_statement(*inserts: str) -> str:
    # Every INSERT but the last in a CTE: PostgreSQL runs them all, in one transaction.
    ctes = ", ".join(f"row{n} AS ({query})" for n, query in enumerate(inserts[:-1]))
    return sql.statement(f"WITH {ctes} {inserts[-1]}", dialects=ONLY_HERE)


def _ending(delete: str, returning: Sequence[str] = ()) -> str:
    """Return one statement that ends a secret: ``delete`` it, end its receipt, queue the event.

    Data-modifying CTEs all run, in one transaction, in the order their rows
    flow (secret, then receipt: the order of every other writer). The outbox
    row is the one ``_enqueue`` would write, for a webhook that wants the
    event; its event id is used only if the row is written (one webhook per
    secret: at most one row). ``returning`` names more columns of the deleted
    row to answer with (NULL, as ``lookup``, when nothing was deleted).
    """
    # Column names are the models', never client text.
    more = "".join(
        f", (SELECT {column} FROM gone) AS {column}"  # noqa: S608
        for column in returning
    )
    queued = {
        "event_id": "%s",
        "secret_lookup": "secret_lookup",
        "event": "%s",
        "occurred_at": "%s",
        "state": "%s",
        "attempts": "0",
        "next_attempt_at": "%s",
        "lease_until": "0",
    }
    return sql.statement(
        f"WITH gone AS ({delete}), "  # noqa: S608 - names are ours, values parameters
        "ended AS (UPDATE receipt SET state = %s, purge_at = %s, revealed_at = %s "
        "WHERE secret_lookup IN (SELECT lookup FROM gone) RETURNING id), "
        f"queued AS (INSERT INTO delivery ({', '.join(sql.DELIVERY_COLUMNS)}) "
        f"SELECT {', '.join(str(v) for v in sql.ordered(sql.DELIVERY_COLUMNS, queued))} "
        "FROM webhook WHERE secret_lookup IN (SELECT lookup FROM gone) AND events LIKE %s "
        "RETURNING id) "
        f"SELECT (SELECT lookup FROM gone) AS lookup{more}, "
        "(SELECT count(*) FROM queued) AS queued",
        dialects=ONLY_HERE,
    )


_pg_once = functools.lru_cache(maxsize=None)(pg)

INSERT = pg(_one_statement(sql.INSERT_SECRET, sql.INSERT_RECEIPT))
INSERT_WITH_WEBHOOK = pg(_one_statement(sql.INSERT_SECRET, sql.INSERT_RECEIPT, sql.INSERT_WEBHOOK))
END_SECRET = pg(_ending(sql.DELETE_SECRET))
END_SECRET_OF_RECEIPT = pg(_ending(sql.DELETE_SECRET_OF_RECEIPT))
END_SEALED = pg(_ending(sql.DELETE_SEALED, sql.SECRET_READ))
INSERT_DELIVERY = pg(sql.INSERT_DELIVERY)
FIND_LIVE = pg(sql.FIND_LIVE)
FIND_RECEIPT = pg(sql.FIND_RECEIPT)
CHECKED = pg(sql.CHECKED)
MARK_OPENED = pg(sql.MARK_OPENED)
SUBSCRIBED = pg(sql.SUBSCRIBED)
NOTIFICATIONS = pg(sql.NOTIFICATIONS)
LOCK_LIVE_SECRET = pg(sql.LOCK_LIVE_SECRET)
COUNT_FAILURE = pg(sql.COUNT_FAILURE)
DELETE_EXPIRED = pg(sql.DELETE_EXPIRED)
DELETE_EXPIRED_REQUESTS = pg(sql.DELETE_EXPIRED_REQUESTS)
DELETE_PURGED = pg(sql.DELETE_PURGED)
ANY_DUE = pg(sql.ANY_DUE)
LEASE = pg(sql.LEASE)
FINISH = pg(sql.FINISH)
TOTALS = pg(sql.TOTALS)
SELECT_ONE = pg(sql.SELECT_ONE)


class PostgresBackend:
    """The store's statements on PostgreSQL, through Tortoise's pooled connection.

    Statements that stand alone run on connections leased from that pool
    (``ots.store.leases``); transactions take theirs from the pool itself.
    """

    def __init__(self, connection: BaseDBAsyncClient) -> None:
        """Run every statement on ``connection`` (Tortoise's, for the models' database)."""
        self._conn = connection
        self._leases = Leases(connection)

    async def _rows(self, query: str, values: Sequence[object]) -> list[dict[str, Any]]:
        return await self._leases.rows(query, values)

    async def insert_secret(self, new: NewSecret) -> Transition:
        """Insert the secret, its receipt and its webhook in one statement."""
        values = backend.secret_values(new) + backend.receipt_values(new)
        webhook = backend.webhook_values(new)
        query = INSERT if webhook is None else INSERT_WITH_WEBHOOK
        await self._rows(query, values + (webhook or []))
        return Transition(Event.CREATED, (new.lookup,), new.created_at)

    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Read the live secret."""
        rows = await self._rows(FIND_LIVE, (lookup, now))
        return backend.stored_secret(rows[0]) if rows else None

    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Delete, end the receipt and queue the event: one statement."""
        del lookup  # the deleted row names its own
        return await self._end(
            self._rows, END_SECRET, secret_id, Event.REVEALED, now, purge_at, now
        )

    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Delete the matching row, end its receipt and queue the event: one statement."""
        rows = await self._rows(
            END_SEALED,
            [
                lookup,
                now,
                key_id,
                verifier,
                *self._ending_values(Event.REVEALED, now, purge_at, now),
            ],
        )
        if rows[0]["lookup"] is None:
            return None
        row = rows[0]
        return backend.stored_secret(row), Transition(
            Event.REVEALED, (lookup,), now, row["queued"] > 0
        )

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Delete the receipt's secret, end the receipt and queue the event: one statement."""
        return await self._end(
            self._rows, END_SECRET_OF_RECEIPT, receipt_lookup, Event.BURNED, now, purge_at
        )

    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Read the receipt, and its subscription's deliveries."""
        rows = await self._rows(FIND_RECEIPT, (receipt_lookup, now))
        if not rows:
            return None
        lookup = rows[0]["secret_lookup"]
        subscribed = await self._rows(SUBSCRIBED, (lookup,))
        notify = None
        if subscribed:
            deliveries = await self._rows(NOTIFICATIONS, (lookup,))
            notify = backend.notify(subscribed[0]["events"], deliveries)
        return backend.receipt(rows[0], notify)

    async def check(self, lookup: str, now: int) -> int:
        """Read the count; write only on the first check (later ones find opened_at set).

        Two first checks at once: the second UPDATE waits for the first's row
        lock, then finds opened_at set and writes nothing.
        """
        rows = await self._rows(CHECKED, (lookup,))
        if not rows:
            return 0
        if rows[0]["opened_at"] is None:
            await self._rows(MARK_OPENED, (now, lookup, State.PENDING.value))
        return int(rows[0]["failed_attempts"])

    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Lock the secret's row, count in the receipt, destroy at the last attempt.

        Secret first, receipt second, as claim and burn lock them: the other
        order deadlocks against a racing reveal. A row lock rewrites nothing
        (the count lives in the receipt: an update of the secret's row would
        leave one more dead copy of its ciphertext).
        """
        async with in_transaction(self._conn.connection_name) as tx:
            if not await tx.execute_query_dict(LOCK_LIVE_SECRET, [secret_id, now]):
                return None
            counted = await tx.execute_query_dict(COUNT_FAILURE, [lookup, State.PENDING.value, now])
            if not counted:
                return None
            count = int(counted[0]["failed_attempts"])
            if count < destruction.after_failures:
                queued = await _enqueue(tx, [lookup], Event.WRONG_PASSPHRASE, now)
                return Failure(count, Transition(Event.WRONG_PASSPHRASE, (lookup,), now, queued))
            ended = await self._end(
                tx.execute_query_dict,
                END_SECRET,
                secret_id,
                Event.DESTROYED,
                now,
                destruction.purge_at,
            )
        if ended is None:  # pragma: no cover - the row is locked by this transaction
            return None
        return Failure(count, ended)

    @staticmethod
    def _ending_values(
        event: Event, now: int, purge_at: int, revealed_at: int | None
    ) -> list[object]:
        # The values of an ending statement after its DELETE's own (see _ending).
        return [
            STATE_AFTER[event].value,
            purge_at,
            revealed_at,
            str(uuid.uuid4()),
            event.value,
            now,
            PENDING,
            now,
            f"%,{event.value},%",
        ]

    @staticmethod
    async def _end(
        rows_of: Rows,
        query: str,
        key: object,
        event: Event,
        now: int,
        purge_at: int,
        revealed_at: int | None = None,
    ) -> Transition | None:
        rows = await rows_of(
            query, [key, now, *PostgresBackend._ending_values(event, now, purge_at, revealed_at)]
        )
        lookup = rows[0]["lookup"]
        if lookup is None:
            return None
        return Transition(event, (str(lookup),), now, rows[0]["queued"] > 0)

    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """One batch and its outbox rows, in one transaction."""
        async with in_transaction(self._conn.connection_name) as tx:
            gone = await tx.execute_query_dict(DELETE_EXPIRED, [now, batch])
            lookups = tuple(str(row["lookup"]) for row in gone)
            queued = await _enqueue(tx, lookups, Event.EXPIRED, now)
        return Transition(Event.EXPIRED, lookups, now, queued)

    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """One batch and the outbox rows of the unanswered, in one transaction."""
        async with in_transaction(self._conn.connection_name) as tx:
            gone = await tx.execute_query_dict(DELETE_EXPIRED_REQUESTS, [now, batch])
            lookups = backend.unanswered(gone)
            queued = await _enqueue(tx, lookups, Event.EXPIRED, now)
        return len(gone), Transition(Event.EXPIRED, lookups, now, queued)

    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """One batch of receipts, with their webhooks and deliveries, in one transaction."""
        async with in_transaction(self._conn.connection_name) as tx:
            gone = await tx.execute_query_dict(DELETE_PURGED, [now, batch])
            lookups = [str(row["secret_lookup"]) for row in gone]
            for chunk in backend.chunks(lookups):
                await tx.execute_query(pg(sql.DELETE_WEBHOOKS_OF, len(chunk)), chunk)
                await tx.execute_query(pg(sql.DELETE_DELIVERIES_OF, len(chunk)), chunk)
        return len(lookups)

    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """A cheap read first; then one ``UPDATE`` whose subquery skips rows others hold."""
        if not await self._rows(ANY_DUE, (PENDING, now, now)):
            return []
        async with in_transaction(self._conn.connection_name) as tx:
            leased = await tx.execute_query_dict(LEASE, [until, PENDING, now, now, limit])
            lookups = sorted({str(row["secret_lookup"]) for row in leased})
            webhooks: list[dict[str, Any]] = []
            for chunk in backend.chunks(lookups):
                query = pg(sql.SEALED_WEBHOOKS_OF, len(chunk))
                webhooks += await tx.execute_query_dict(query, chunk)
        return backend.due_deliveries(leased, webhooks)

    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give the leases back, an IN list at a time."""
        released = 0
        for chunk in backend.chunks(list(ids)):
            query = pg(sql.RELEASE, len(chunk))
            count, _ = await self._conn.execute_query(query, [retry_at, *chunk, until, PENDING])
            released += count
        return released

    async def finish_delivery(self, finished: Finished) -> None:
        """Record the outcome."""
        await self._conn.execute_query(FINISH, backend.finish_values(finished))

    async def totals(self, now: int) -> StoredTotals:
        """An index range scan on ``expires_at``."""
        row = (await self._rows(TOTALS, (now, now)))[0]
        return StoredTotals(int(row["live"]), int(row["size"]), int(row["receipts"]))

    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """An index range scan on ``(quota_tag, expires_at)``: one client's rows only."""
        rows = await self._rows(pg(sql.CLIENT_TOTALS, len(tags)), (now, *tags, *tags, now))
        return ClientTotals(int(rows[0]["live"]), int(rows[0]["size"]))

    async def erase_ended(self) -> bool:
        """Nothing to do: dead tuples are left to autovacuum (see the migrations)."""
        return True

    async def read(self, template: str, values: Sequence[object]) -> list[backend.Row]:
        """Run one reading statement on the pool."""
        return list(await self._rows(_pg_once(template), values))

    async def write(self, template: str, values: Sequence[object]) -> list[backend.Row]:
        """Run one writing statement on the pool (a transaction of its own)."""
        return list(await self._rows(_pg_once(template), values))

    async def write_if(self, steps: Sequence[backend.Step]) -> list[list[backend.Row]] | None:
        """Run the steps in one transaction; the first's row lock decides whether the rest run.

        A racing transaction's first statement waits for that lock, then finds
        its ``WHERE`` false and returns no row.
        """
        results: list[list[backend.Row]] = []
        async with in_transaction(self._conn.connection_name) as tx:
            for query, values in steps:
                results.append(list(await tx.execute_query_dict(_pg_once(query), list(values))))
                if not results[0]:
                    return None
        return results

    async def ping(self) -> None:
        """Ask the pool."""
        await self._rows(SELECT_ONE, ())

    async def recycle(self) -> None:
        """Drop the pooled connections: each stale one would fail one more request if kept.

        Tortoise offers no public way to this; ``expire_connections`` adapts
        its private one, and ``tests/integration/test_store.py`` fails loudly
        if an upgrade removes it.
        """
        with contextlib.suppress(Exception):
            await self._leases.drop()
            await expire_connections(self._conn)

    async def close(self) -> None:
        """Give the leased connections back: the pool is Tortoise's, closed with it."""
        await self._leases.close()


async def expire_connections(connection: BaseDBAsyncClient) -> None:
    """Expire the pooled connections of Tortoise's asyncpg ``connection`` (the one adapter)."""
    await connection._expire_connections()  # type: ignore[attr-defined]


async def _enqueue(conn: BaseDBAsyncClient, lookups: Sequence[str], event: Event, now: int) -> bool:
    """Write an outbox row of ``event`` for each of ``lookups`` whose webhook wants it."""
    wanted: list[str] = []
    for chunk in backend.chunks(lookups):
        wanted += backend.wanting(
            await conn.execute_query_dict(pg(sql.WEBHOOKS_OF, len(chunk)), chunk), event
        )
    if wanted:
        await conn.execute_many(
            INSERT_DELIVERY, [backend.delivery_values(lookup, event, now) for lookup in wanted]
        )
    return bool(wanted)
