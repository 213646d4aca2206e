"""The only module that queries the database: ``TortoiseStore``.

It executes what the service decided and decides nothing itself. Every
method takes ``now`` (epoch seconds) from the caller, so expiry is
decided by one injectable clock. Database failures surface as
``UnavailableError``; callers never see a driver exception.

Exactly-once reads: ``claim`` is the only way a secret leaves the table for
a reader, by a ``DELETE`` whose row count (1 or 0) decides the winner. On
PostgreSQL that ``DELETE`` locks the row it removes (a racing one waits for
the lock, then finds nothing) and is one statement with the receipt's update
and the outbox row: one round trip. On SQLite, where a transaction that reads
before it writes fails with ``database is locked`` when another process wrote
in between, the ``DELETE`` is the transaction's first statement. Both are
atomic across processes.

Events: every state change whose secret has a webhook subscribed to it
writes a row of the ``delivery`` outbox in the same transaction, so an
event is never lost nor invented by a crash. The delivery loop leases due
rows with one atomic ``UPDATE`` (its subquery ``SKIP LOCKED`` on
PostgreSQL; SQLite runs one writer at a time), so each worker takes
different rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Final, ParamSpec, TypeVar

import aiosqlite
import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.expressions import F, Subquery
from tortoise.models import Model
from tortoise.transactions import in_transaction

from ots import metrics
from ots.db import BUSY_TIMEOUT_MS, MEMORY, PRIVATE, WRITER_LOCK
from ots.domain import (
    ClientTotals,
    DeliveryState,
    Destruction,
    DueDelivery,
    EncryptedSecret,
    Event,
    Finished,
    KdfParams,
    NewSecret,
    Notification,
    Notify,
    Receipt,
    SealedWebhook,
    State,
    StoredSecret,
    StoredTotals,
)
from ots.errors import UnavailableError
from ots.models import DeliveryRecord, ReceiptRecord, SecretRecord, WebhookRecord

log = logging.getLogger("ots.store")
# Lookups per IN (...) list: far below any database's parameter limit.
LOOKUPS_PER_QUERY: Final = 1000
# A new outbox row, due now (values from _delivery).
DELIVERY_INSERT: Final = (
    "INSERT INTO delivery (event_id, secret_lookup, event, occurred_at, state, attempts, "
    "next_attempt_at, lease_until) VALUES (%s, %s, %s, %s, %s, 0, %s, 0)"
)

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")
# A write of a group commit: runs on SQLite's thread, inside the group's transaction.
Write = Callable[[sqlite3.Connection], R]

# What a lost, refused, locked or timed-out database raises through Tortoise.
DATABASE_DOWN = (
    OSError,
    asyncio.TimeoutError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    DBConnectionError,
    OperationalError,
)

# Errors after which the pooled connections are suspect: all of them may have died
# with the server, and each stale one would fail one more request if kept.
CONNECTION_LOST = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
)


async def _recycle_connections() -> None:
    expire = getattr(SecretRecord._meta.db, "_expire_connections", None)
    if expire is not None:
        with contextlib.suppress(Exception):
            await expire()


def translate_db_errors(
    func: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run ``func`` in its own, shielded task; turn database failures into ``UnavailableError``.

    The task matters: when the connection dies as a transaction begins,
    Tortoise leaves that dead transaction registered in the caller's context.
    Sanic serves every request of a keep-alive connection in one task, so
    without isolation all of them would keep failing after the database is
    back. A child task gets a copy of the context and the leak dies with it.
    """

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        task = asyncio.create_task(func(*args, **kwargs))
        # Its outcome is read here, or dropped quietly if the caller left.
        task.add_done_callback(_consume)
        try:
            # Shielded: a request cancelled (client gone, timeout) must not cancel a
            # statement or transaction half-way. Tortoise's SQLite client would keep
            # its connection lock, and every later query of this worker would hang.
            return await asyncio.shield(task)
        except DATABASE_DOWN as exc:
            # The message may carry SQL or a host name: it goes to the log, never to a client.
            log.error("database error in %s: %s: %s", func.__name__, type(exc).__name__, exc)
            metrics.DATABASE_ERRORS.inc()
            if isinstance(exc, CONNECTION_LOST):
                await _recycle_connections()
            raise UnavailableError from exc

    return wrapper


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class TortoiseStore:
    """The secrets, receipts, webhooks and outbox tables, through Tortoise's connection."""

    def __init__(self) -> None:
        """No one to tell about new outbox rows yet."""
        self._outbox_listener: Callable[[], None] | None = None
        self._commits: GroupCommit | None = None
        self._reader: SqliteReader | None = None

    async def close(self) -> None:
        """Close the connection this store opened itself (SQLite's read connection)."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.close()

    async def _read_connection(self, conn: BaseDBAsyncClient) -> SqliteReader | None:
        # SQLite's read connection (None: PostgreSQL, or a database only in memory,
        # which a second connection would not see). Made again if the file changed.
        path = _file_of(conn)
        if conn.capabilities.dialect == "postgres" or path == MEMORY:
            return None
        reader = self._reader
        if reader is None or reader.path != path:
            old, reader = reader, SqliteReader(path)
            # Replaced before the old one closes: a read arriving meanwhile uses the new one.
            self._reader = reader
            if old is not None:
                await old.close()
        return reader

    def _group(self, conn: BaseDBAsyncClient) -> GroupCommit:
        # The SQLite file's group commit (made again if the file changed).
        path = _file_of(conn)
        if self._commits is None or self._commits.path != path:
            self._commits = GroupCommit(path)
        return self._commits

    def on_outbox(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after a commit that added outbox rows (the delivery loop's wake-up)."""
        self._outbox_listener = listener

    def _added_to_outbox(self, added: bool) -> None:
        if added and self._outbox_listener is not None:
            self._outbox_listener()

    @translate_db_errors
    async def insert_secret(self, new: NewSecret) -> None:
        """Store a sealed secret, its pending receipt and its webhook; committed on return.

        On PostgreSQL the rows go in one statement (one round trip, one
        transaction); on SQLite in one transaction of plain inserts.
        """
        encrypted = new.encrypted
        rows: list[tuple[type[Model], dict[str, Any]]] = [
            (
                SecretRecord,
                {
                    "lookup": new.lookup,
                    "salt": encrypted.salt,
                    "nonce": encrypted.nonce,
                    "ciphertext": encrypted.ciphertext,
                    # No passphrase cost for a secret its client sealed: 0 (argon2 needs t >= 1).
                    "kdf_time_cost": 0 if encrypted.kdf is None else encrypted.kdf.time_cost,
                    "kdf_memory_kib": 0 if encrypted.kdf is None else encrypted.kdf.memory_kib,
                    "kdf_parallelism": 0 if encrypted.kdf is None else encrypted.kdf.parallelism,
                    "key_id": encrypted.key_id,
                    "verifier": encrypted.verifier,
                    "created_at": new.created_at,
                    "expires_at": new.expires_at,
                    "quota_tag": new.quota_tag,
                },
            ),
            (
                ReceiptRecord,
                {
                    "lookup": new.receipt_lookup,
                    "secret_lookup": new.lookup,
                    "state": State.PENDING.value,
                    "created_at": new.created_at,
                    "expires_at": new.expires_at,
                    "revealed_at": None,
                    "failed_attempts": 0,
                    "purge_at": new.purge_at,
                },
            ),
        ]
        if new.webhook is not None:
            sealed_webhook = new.webhook.sealed
            webhook = {
                "secret_lookup": new.lookup,
                "events": _event_list(new.webhook.events),
                "key_id": sealed_webhook.key_id,
                "nonce": sealed_webhook.nonce,
                "sealed": sealed_webhook.ciphertext,
            }
            rows.append((WebhookRecord, webhook))
        conn = SecretRecord._meta.db
        if conn.capabilities.dialect == "postgres":
            await _insert_in_one_statement(conn, rows)
            return
        inserts = [_insert_sql(model, values, "?") for model, values in rows]

        def insert(db: sqlite3.Connection) -> None:
            for query, values in inserts:
                db.execute(query, values)

        await self._group(conn).run(conn, insert)

    @translate_db_errors
    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None.

        Raw SQL: on every reveal and check, building a model instance costs
        more than the query itself. On SQLite it runs on ``SqliteReader``'s
        connection, so it never waits behind a commit.
        """
        query = (
            "SELECT id, salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, "
            "kdf_parallelism, key_id, verifier, created_at, expires_at FROM secret "
            "WHERE lookup = %s AND expires_at > %s"
        )
        conn = SecretRecord._meta.db
        reader = await self._read_connection(conn)
        if reader is None:
            rows = await _execute(conn, query, [lookup, now])
        else:
            rows = await reader.fetch(_numbered(None, query), [lookup, now])
        if not rows:
            return None
        row = rows[0]
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

    @translate_db_errors
    async def claim(self, secret_id: int, lookup: str, now: int, purge_at: int) -> bool:
        """Atomically take an unexpired secret out of the table for its one reader.

        The receipt turns revealed in the same transaction. Locks are taken
        secret first, receipt second, as ``burn`` does, so the two cannot deadlock.

        On PostgreSQL it is one statement (one round trip): the ``DELETE``
        locks the row it removes, a racing ``DELETE`` waits for that lock and
        then finds nothing, and the receipt and the outbox row are written by
        the same statement, in the same transaction. On SQLite the same three
        writes are one ``BEGIN IMMEDIATE`` transaction (``GroupCommit``), whose
        ``DELETE`` has the write lock before it reads.

        Returns:
            True for exactly one caller; False if it was already read, burned,
            destroyed or expired.
        """
        conn = SecretRecord._meta.db
        if conn.capabilities.dialect == "postgres":
            claimed, queued = await _claim_in_one_statement(conn, secret_id, now, purge_at)
            self._added_to_outbox(queued)
            return claimed
        claimed, queued = await self._group(conn).run(
            conn, functools.partial(_claim_on_sqlite, secret_id, lookup, now, purge_at)
        )
        self._added_to_outbox(queued)
        return claimed

    @translate_db_errors
    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> str | None:
        """Destroy the pending secret behind a receipt.

        The first statement deletes the secret (a write, so SQLite takes its
        write lock before reading anything); a racing reveal and burn are
        decided by which delete removes the row.

        Returns:
            The lookup of the secret this call destroyed; None if there was no
            pending secret behind the receipt (or no receipt).
        """
        async with in_transaction() as conn:
            receipt = ReceiptRecord.filter(lookup=receipt_lookup).using_db(conn)
            secret_lookup = receipt.values("secret_lookup")
            deleted = (
                await SecretRecord.filter(lookup__in=Subquery(secret_lookup), expires_at__gt=now)
                .using_db(conn)
                .delete()
            )
            if not deleted:
                return None
            await receipt.update(state=State.BURNED.value, purge_at=purge_at)
            lookup: str = (await receipt.only("id", "secret_lookup").get()).secret_lookup
            queued = await _enqueue(conn, [lookup], Event.BURNED, now)
        self._added_to_outbox(queued)
        return lookup

    @translate_db_errors
    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Return the receipt stored under ``receipt_lookup`` unless it is due for purging.

        Its state is the stored one: pending, revealed or burned.
        """
        row = await ReceiptRecord.filter(lookup=receipt_lookup, purge_at__gt=now).first()
        if row is None:
            return None
        return Receipt(
            state=State(row.state),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revealed_at=row.revealed_at,
            failed_attempts=row.failed_attempts,
            lookup=row.secret_lookup,
            notify=await _notify_of(row.secret_lookup),
        )

    @translate_db_errors
    async def failed_attempts(self, lookup: str) -> int:
        """Return the wrong-passphrase count of the secret stored under ``lookup``."""
        row = await ReceiptRecord.filter(secret_lookup=lookup).only("id", "failed_attempts").first()
        return 0 if row is None else row.failed_attempts

    @translate_db_errors
    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> int | None:
        """Count one wrong passphrase; destroy the secret as ``destruction`` says.

        When to destroy and how the receipt then reads are the caller's
        decision; doing the count and the destruction in one transaction is
        this method's job. The count lives in the receipt, never in the sealed
        row: on PostgreSQL every update of that row would leave one more dead
        copy of the ciphertext. The increment is the transaction's first
        statement, so it takes the write lock before anything is read: no
        update is lost under races (on SQLite; on PostgreSQL the secret's row
        lock comes first). A pending, unexpired receipt means the secret is
        still there.

        Returns:
            The failure count after this one, or None if the secret is gone.
        """
        async with in_transaction() as conn:
            if conn.capabilities.support_for_update:
                # Secret first, receipt second, as claim and burn lock them: the other
                # order deadlocks against a racing reveal. A row lock rewrites nothing.
                live = SecretRecord.filter(id=secret_id, expires_at__gt=now).using_db(conn)
                if await live.select_for_update().only("id").first() is None:
                    return None
            receipt = ReceiptRecord.filter(secret_lookup=lookup).using_db(conn)
            counted = await receipt.filter(state=State.PENDING.value, expires_at__gt=now).update(
                failed_attempts=F("failed_attempts") + 1
            )
            if counted == 0:
                return None
            count: int = (await receipt.only("id", "failed_attempts").get()).failed_attempts
            event = Event.WRONG_PASSPHRASE
            if count >= destruction.after_failures:
                event = Event.DESTROYED
                await SecretRecord.filter(id=secret_id).using_db(conn).delete()
                await _end_receipt(conn, lookup, destruction.reads_as, destruction.purge_at)
            queued = await _enqueue(conn, [lookup], event, now)
        self._added_to_outbox(queued)
        return count

    @translate_db_errors
    async def delete_expired_secrets(self, now: int, batch: int) -> list[str]:
        """Delete at most ``batch`` expired secrets; return the lookups of those this call removed.

        One ``DELETE … RETURNING`` per batch: of two sweepers racing, each
        secret is returned to (and its ``expired`` event written by) one only.
        On SQLite the batch is a write of ``GroupCommit``: the writers wait
        for it in their queue, not in SQLite's busy handler.
        """
        conn = SecretRecord._meta.db
        if conn.capabilities.dialect == "sqlite":
            expire = functools.partial(_expire_on_sqlite, now, batch)
            lookups, queued = await self._group(conn).run(conn, expire)
        else:
            async with in_transaction() as conn:
                lookups = await _delete_returning(
                    conn, "secret", "expires_at", now, batch, "lookup"
                )
                queued = await _enqueue(conn, lookups, Event.EXPIRED, now)
        self._added_to_outbox(queued)
        return lookups

    @translate_db_errors
    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts past retention, with their webhooks and deliveries.

        Returns:
            How many receipts went.
        """
        async with in_transaction() as conn:
            lookups = await _delete_returning(
                conn, "receipt", "purge_at", now, batch, "secret_lookup"
            )
            if lookups:
                await WebhookRecord.filter(secret_lookup__in=lookups).using_db(conn).delete()
                await DeliveryRecord.filter(secret_lookup__in=lookups).using_db(conn).delete()
        return len(lookups)

    @translate_db_errors
    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """Lease at most ``limit`` due deliveries until ``until``, counting the attempt.

        A cheap read first: most looks find nothing, and on SQLite an update
        would take the write lock even then. The lease itself is one ``UPDATE``
        whose subquery picks the rows (``SKIP LOCKED`` on PostgreSQL, so
        workers never wait on each other's rows); no row is leased twice.
        """
        due = DeliveryRecord.filter(
            state=DeliveryState.PENDING.value, next_attempt_at__lte=now, lease_until__lte=now
        )
        if not await due.exists():
            return []
        async with in_transaction() as conn:
            skip_locked = " FOR UPDATE SKIP LOCKED" if conn.capabilities.support_for_update else ""
            rows = await _execute(
                conn,
                # The only variable text is ours (a locking clause); values are parameters.
                "UPDATE delivery SET lease_until = %s, attempts = attempts + 1 WHERE id IN "  # noqa: S608
                "(SELECT id FROM delivery WHERE state = %s AND next_attempt_at <= %s "
                f"AND lease_until <= %s ORDER BY id LIMIT %s{skip_locked}) "
                "RETURNING id, event_id, secret_lookup, event, occurred_at, attempts",
                [until, DeliveryState.PENDING.value, now, now, limit],
            )
            lookups = {row["secret_lookup"] for row in rows}
            webhooks = {
                webhook.secret_lookup: SealedWebhook(
                    nonce=bytes(webhook.nonce),
                    ciphertext=bytes(webhook.sealed),
                    key_id=webhook.key_id,
                )
                for webhook in await WebhookRecord.filter(secret_lookup__in=lookups).using_db(conn)
            }
        return [
            DueDelivery(
                id=int(row["id"]),
                event_id=row["event_id"],
                lookup=row["secret_lookup"],
                event=Event(row["event"]),
                occurred_at=int(row["occurred_at"]),
                attempts=int(row["attempts"]),
                webhook=webhooks.get(row["secret_lookup"]),
            )
            for row in sorted(rows, key=lambda row: int(row["id"]))
        ]

    @translate_db_errors
    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give back leases taken ``until`` that were not used: nothing was sent.

        Each row is due again at ``retry_at`` and its attempt is not counted. A
        row whose lease is no longer ``until`` (it ran out and another worker
        took the row) is left alone.

        Returns:
            How many rows were given back.
        """
        released = 0
        for chunk in _chunks(ids):
            released += await DeliveryRecord.filter(
                id__in=chunk, lease_until=until, state=DeliveryState.PENDING.value
            ).update(lease_until=0, next_attempt_at=retry_at, attempts=F("attempts") - 1)
        return released

    @translate_db_errors
    async def finish_delivery(self, finished: Finished) -> None:
        """Record what became of one delivery attempt, and release its lease."""
        delivered = finished.state is DeliveryState.DELIVERED
        await DeliveryRecord.filter(id=finished.id).update(
            state=finished.state.value,
            next_attempt_at=finished.retry_at,
            lease_until=0,
            last_status=finished.status,
            last_error=finished.error,
            delivered_at=finished.at if delivered else None,
        )

    @translate_db_errors
    async def totals(self, now: int) -> StoredTotals:
        """Return the live secrets, their ciphertext bytes, and the receipts kept.

        The secrets are an index range scan on ``expires_at``; the lengths come
        from the row headers (neither database reads the ciphertext itself).
        """
        # Raw SQL: the ORM would cast the summed length back to the ciphertext's type.
        # ``now`` is an int from our clock, never client text.
        query = (
            "SELECT count(*), coalesce(sum(length(ciphertext)), 0), "  # noqa: S608
            f"(SELECT count(*) FROM receipt) FROM secret WHERE expires_at > {int(now)}"
        )
        _, rows = await SecretRecord._meta.db.execute_query(query)
        live, size, receipts = rows[0]
        return StoredTotals(int(live), int(size), int(receipts))

    @translate_db_errors
    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Return the live secrets stored under any of the quota ``tags``, and their bytes.

        An index range scan on ``(quota_tag, expires_at)``: one client's rows
        only, with lengths from the row headers (as ``totals``). Raw SQL, on
        SQLite on ``SqliteReader``'s connection, as ``find_live``: it runs on
        every create and must never wait behind a commit.
        """
        if not tags:
            return ClientTotals(0, 0)
        marks = ", ".join(["%s"] * len(tags))
        query = (
            "SELECT count(*) AS live, coalesce(sum(length(ciphertext)), 0) AS size "  # noqa: S608
            f"FROM secret WHERE quota_tag IN ({marks}) AND expires_at > %s"
        )
        values = [*tags, now]
        conn = SecretRecord._meta.db
        reader = await self._read_connection(conn)
        if reader is None:
            rows = await _execute(conn, query, values)
        else:
            rows = await reader.fetch(_numbered(None, query), values)
        return ClientTotals(int(rows[0]["live"]), int(rows[0]["size"]))

    @translate_db_errors
    async def erase_ended(self) -> bool:
        """Make deleted secrets physically unrecoverable; return whether the pass completed.

        SQLite (with ``secure_delete``, which zeroes deleted cells and pages)
        still holds the old pages in its WAL: a ``TRUNCATE`` checkpoint copies
        the zeroed pages into the database and empties the WAL. It cannot
        complete while another connection reads an older snapshot; it then
        reports busy and the caller tries again. PostgreSQL has nothing to do
        here: its dead tuples are left to autovacuum (see the migrations).
        """
        conn = SecretRecord._meta.db
        if conn.capabilities.dialect != "sqlite":
            return True
        _, rows = await conn.execute_query("PRAGMA wal_checkpoint(TRUNCATE)")
        return not rows or rows[0][0] == 0

    async def ping(self) -> None:
        """Run a trivial query; raise ``UnavailableError`` if the database does not answer.

        One retry: the first failure after an outage may only be a stale pooled
        connection, which the failure itself has recycled.
        """
        try:
            await self._select_one()
        except UnavailableError:
            await self._select_one()

    @translate_db_errors
    async def _select_one(self) -> None:
        await asyncio.wait_for(SecretRecord._meta.db.execute_query("SELECT 1"), timeout=3)


def _file_of(conn: BaseDBAsyncClient) -> str:
    # The SQLite file Tortoise's connection opened (MEMORY for PostgreSQL's, which has none).
    path: str = getattr(conn, "filename", MEMORY)
    return path


def _insert_sql(model: type[Model], row: dict[str, Any], mark: str) -> tuple[str, list[object]]:
    # Table and column names are the model's own, never client text.
    columns = ", ".join(row)
    marks = ", ".join([mark] * len(row))
    query = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608
    return query, list(row.values())


async def _insert_in_one_statement(
    conn: BaseDBAsyncClient, rows: Sequence[tuple[type[Model], dict[str, Any]]]
) -> None:
    # Every INSERT but the last in a CTE: PostgreSQL runs them all, in one transaction.
    inserts = [_insert_sql(model, row, "%s") for model, row in rows]
    ctes = ", ".join(f"row{n} AS ({query})" for n, (query, _) in enumerate(inserts[:-1]))
    values = [value for _, row_values in inserts for value in row_values]
    await _execute(conn, f"WITH {ctes} {inserts[-1][0]}", values)


class GroupCommit:
    """SQLite's busiest writes (create, reveal, sweep batch), committed in shared transactions.

    Through the ORM every statement of a transaction is a hop to aiosqlite's
    thread and back, and the write lock stays held across the event loop's
    turns in between; and every transaction waits for its own ``fsync``.
    Here the writes that arrive while a transaction commits wait for it,
    then go together in the next: one hop, one ``BEGIN IMMEDIATE``, one
    commit and one ``fsync`` for all of them. Each caller is answered only
    after the commit that holds its write, so an acknowledged write is as
    durable as before. If one write of a group breaks a constraint, the
    group is rolled back and each write runs again alone, so only that one
    fails; any other error (locked, I/O, disk full) is every caller's.
    """

    def __init__(self, database_path: str) -> None:
        """Commit to the SQLite file at ``database_path`` (``:memory:``: no queue needed)."""
        self.path = database_path
        self._queue = None if database_path == MEMORY else WriterQueue(database_path)
        self._waiting: list[tuple[Write[Any], asyncio.Future[Any]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def run(self, conn: BaseDBAsyncClient, write: Write[R]) -> R:
        """Run ``write`` in the next transaction; return its result once that committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._commit_waiting(conn))
        return await future

    async def _commit_waiting(self, conn: BaseDBAsyncClient) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                async with conn.acquire_connection() as connection:
                    # aiosqlite runs a function on its thread only through _execute (no
                    # public name); the function then owns the sqlite3 connection.
                    aio: aiosqlite.Connection = connection
                    run = functools.partial(_commit_group, aio, self._queue, [w for w, _ in group])
                    outcomes: list[object] = await aio._execute(run)  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                for _, future in group + self._waiting:
                    future.cancel()
                raise
            except Exception as exc:  # each caller gets what the group got
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class SqliteReader:
    """A worker's second connection to the SQLite file, for reads on the hot path.

    Tortoise's one connection serves a worker's every query, one at a time,
    and a group commit holds it while it waits for the writers' queue and
    commits: a reveal's lookup would wait for the other worker's commit and
    then for this worker's own. In WAL mode a reader takes no lock and sees
    every committed write, so on a connection (and thread) of its own a read
    goes at once. Opened on first use; ``query_only``, so it can never write.
    """

    def __init__(self, path: str) -> None:
        """Read the SQLite file at ``path``; nothing is opened yet."""
        self.path = path
        self._opening: asyncio.Task[aiosqlite.Connection] | None = None

    async def fetch(self, query: str, values: Sequence[object]) -> list[dict[str, Any]]:
        """Run one ``SELECT`` (``?`` placeholders); return its rows as dicts.

        Raises:
            sqlite3.Error: the file cannot be read, or the connection was
                closed under the read (shutting down); the next read opens anew.
        """
        opening = await self._opened()
        try:
            rows = await opening.result().execute_fetchall(query, values)
        except ValueError as exc:  # aiosqlite's word for a closed connection
            if self._opening is opening:
                self._opening = None
            raise sqlite3.OperationalError(f"read connection: {exc}") from exc
        return [dict(row) for row in rows]

    async def close(self) -> None:
        """Close the connection, once the reads already queued on it have run."""
        opening, self._opening = self._opening, None
        if opening is not None:
            with contextlib.suppress(Exception):
                await (await opening).close()

    async def _opened(self) -> asyncio.Task[aiosqlite.Connection]:
        # The task that opened the connection, done: the read's connection, and
        # what to forget if that connection turns out closed.
        if self._opening is None:
            # One task, however many reads arrive while it opens.
            self._opening = asyncio.ensure_future(self._open())
            self._opening.add_done_callback(_consume)
        opening = self._opening
        try:
            await asyncio.shield(opening)
            return opening
        except Exception:
            if self._opening is opening:
                self._opening = None  # the next read tries again
            raise

    async def _open(self) -> aiosqlite.Connection:
        # mode=rw: a missing file is an error here, never created (and world-readable).
        uri = f"{Path(self.path).absolute().as_uri()}?mode=rw"
        connecting = aiosqlite.connect(uri, uri=True, isolation_level=None)
        # A daemon thread: a reader nobody closed cannot keep the process from exiting,
        # and one that never writes leaves nothing to finish.
        connecting._thread.daemon = True
        conn = await connecting
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute_fetchall("PRAGMA query_only = ON")
            await conn.execute_fetchall(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except BaseException:
            await conn.close()
            raise
        return conn


class WriterQueue:
    """The workers' queue for SQLite's write lock: an ``flock`` on a file beside the database.

    SQLite makes a writer that finds the lock taken sleep and try again, in
    steps of 1, 2, 5, 10 … 100 ms, however soon the lock is free: two busy
    workers then spend much of their time asleep. A blocking ``flock``
    wakes its waiter as soon as the holder lets go. Only the grouped writes
    (``GroupCommit``) queue here; any other writer still waits in SQLite's
    busy handler, as before. The kernel drops the lock of a process that dies.
    """

    def __init__(self, database_path: str) -> None:
        """Queue on ``database_path`` + ``WRITER_LOCK``, opened on first use."""
        self._path = database_path + WRITER_LOCK
        self._file: BinaryIO | None = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Block (a thread, never the event loop) until this worker may write."""
        if self._file is None:
            # A file object, so that a queue dropped with its store closes it.
            self._file = open(  # noqa: SIM115 - held open for the process's life
                self._path, "ab", opener=lambda path, flags: os.open(path, flags, PRIVATE)
            )
        fcntl.flock(self._file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._file, fcntl.LOCK_UN)


def _commit_group(
    aio: aiosqlite.Connection, queue: WriterQueue | None, writes: Sequence[Write[object]]
) -> list[object]:
    # On aiosqlite's thread; returns each write's result, or the exception its
    # caller is to get. The queue's turn, then IMMEDIATE: the write lock before
    # anything is read, so nothing read here can go stale.
    db = aio._conn
    with contextlib.nullcontext() if queue is None else queue.turn():
        if len(writes) > 1:
            try:
                return _transaction(db, writes)
            except sqlite3.IntegrityError:
                pass  # rolled back: each runs alone below, and only the culprit fails
        outcomes: list[object] = []
        for write in writes:
            try:
                outcomes += _transaction(db, [write])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _transaction(db: sqlite3.Connection, writes: Sequence[Write[object]]) -> list[object]:
    db.execute("BEGIN IMMEDIATE")
    try:
        results = [write(db) for write in writes]
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return results


def _claim_on_sqlite(
    secret_id: int, lookup: str, now: int, purge_at: int, db: sqlite3.Connection
) -> tuple[bool, bool]:
    # SQLite's claim, the statements of _claim_in_one_statement in one transaction.
    deleted = db.execute(
        "DELETE FROM secret WHERE id = ? AND expires_at > ?", (secret_id, now)
    ).rowcount
    if deleted != 1:
        return False, False
    db.execute(
        "UPDATE receipt SET state = ?, purge_at = ?, revealed_at = ? WHERE secret_lookup = ?",
        (State.REVEALED.value, purge_at, now, lookup),
    )
    return True, _enqueue_on_sqlite(db, [lookup], Event.REVEALED, now)


async def _claim_in_one_statement(
    conn: BaseDBAsyncClient, secret_id: int, now: int, purge_at: int
) -> tuple[bool, bool]:
    """PostgreSQL's claim: delete, end the receipt and queue the webhook event at once.

    Data-modifying CTEs all run, in one transaction, in the order their
    rows flow (secret, then receipt: the order of every other writer). The
    outbox row is what ``_enqueue`` would write, for a webhook that wants
    ``revealed``; its event id is used only if the row is written.

    Returns:
        Whether this call removed the secret, and whether it queued an event.
    """
    rows = await _execute(
        conn,
        "WITH gone AS (DELETE FROM secret WHERE id = %s AND expires_at > %s RETURNING lookup), "
        "ended AS (UPDATE receipt SET state = %s, purge_at = %s, revealed_at = %s "
        "WHERE secret_lookup IN (SELECT lookup FROM gone) RETURNING id), "
        "queued AS (INSERT INTO delivery (event_id, secret_lookup, event, occurred_at, state, "
        "attempts, next_attempt_at, lease_until) "
        "SELECT %s, secret_lookup, %s, %s, %s, 0, %s, 0 FROM webhook "
        "WHERE secret_lookup IN (SELECT lookup FROM gone) AND events LIKE %s RETURNING id) "
        "SELECT (SELECT count(*) FROM gone) AS claimed, (SELECT count(*) FROM queued) AS queued",
        [
            secret_id,
            now,
            State.REVEALED.value,
            purge_at,
            now,
            str(uuid.uuid4()),
            Event.REVEALED.value,
            now,
            DeliveryState.PENDING.value,
            now,
            f"%,{Event.REVEALED.value},%",
        ],
    )
    return rows[0]["claimed"] == 1, rows[0]["queued"] > 0


async def _end_receipt(
    conn: BaseDBAsyncClient, lookup: str, state: State, purge_at: int, **changes: int
) -> None:
    await (
        ReceiptRecord.filter(secret_lookup=lookup)
        .using_db(conn)
        .update(state=state.value, purge_at=purge_at, **changes)
    )


def _event_list(events: Iterable[Event]) -> str:
    # Between commas, so that a LIKE-free membership test is a split.
    return "," + ",".join(sorted(event.value for event in events)) + ","


async def _enqueue(conn: BaseDBAsyncClient, lookups: Sequence[str], event: Event, now: int) -> bool:
    """Write an outbox row of ``event`` for each of ``lookups`` whose webhook wants it.

    Returns:
        Whether any row was written.
    """
    # Raw SQL: building these queries through the ORM cost a sweep batch (a
    # thousand lookups) more than running them.
    wanted: list[str] = []
    for chunk in _chunks(lookups):
        wanted += _wanting(await _execute(conn, _webhooks_query(len(chunk)), chunk), event)
    if wanted:
        await conn.execute_many(
            _numbered(conn, DELIVERY_INSERT), [_delivery(lookup, event, now) for lookup in wanted]
        )
    return bool(wanted)


def _expire_on_sqlite(now: int, batch: int, db: sqlite3.Connection) -> tuple[list[str], bool]:
    # SQLite's sweep batch, the statements of delete_expired_secrets on SQLite's thread.
    deleted = db.execute(
        _numbered(None, _delete_returning_query("secret", "expires_at", "lookup", "")), (now, batch)
    )
    lookups = [str(row["lookup"]) for row in deleted.fetchall()]
    return lookups, _enqueue_on_sqlite(db, lookups, Event.EXPIRED, now)


def _enqueue_on_sqlite(
    db: sqlite3.Connection, lookups: Sequence[str], event: Event, now: int
) -> bool:
    # _enqueue on SQLite's own thread, inside a group's transaction.
    wanted: list[str] = []
    for chunk in _chunks(lookups):
        webhooks = db.execute(_numbered(None, _webhooks_query(len(chunk))), chunk).fetchall()
        wanted += _wanting(webhooks, event)
    db.executemany(
        _numbered(None, DELIVERY_INSERT), [_delivery(lookup, event, now) for lookup in wanted]
    )
    return bool(wanted)


def _chunks(values: Sequence[V]) -> Iterator[list[V]]:
    # IN lists of at most LOOKUPS_PER_QUERY, whatever OTS_SWEEP_BATCH is: SQLite
    # takes at most 32,766 parameters.
    for start in range(0, len(values), LOOKUPS_PER_QUERY):
        yield list(values[start : start + LOOKUPS_PER_QUERY])


def _webhooks_query(count: int) -> str:
    marks = ", ".join(["%s"] * count)
    return f"SELECT secret_lookup, events FROM webhook WHERE secret_lookup IN ({marks})"  # noqa: S608


def _wanting(webhooks: Iterable[Any], event: Event) -> list[str]:
    # The lookups whose webhook subscribed to ``event`` (rows with those two columns).
    return [str(w["secret_lookup"]) for w in webhooks if f",{event.value}," in w["events"]]


def _delivery(lookup: str, event: Event, now: int) -> list[object]:
    # The values of DELIVERY_INSERT for a new, due outbox row.
    return [str(uuid.uuid4()), lookup, event.value, now, DeliveryState.PENDING.value, now]


async def _notify_of(lookup: str) -> Notify | None:
    webhook = await WebhookRecord.filter(secret_lookup=lookup).only("id", "events").first()
    if webhook is None:
        return None
    rows = await DeliveryRecord.filter(secret_lookup=lookup).order_by("id")
    return Notify(
        events=frozenset(Event(e) for e in webhook.events.strip(",").split(",")),
        deliveries=tuple(
            Notification(
                event_id=row.event_id,
                event=Event(row.event),
                state=DeliveryState(row.state),
                attempts=row.attempts,
                last_status=row.last_status,
                last_error=row.last_error,
                delivered_at=row.delivered_at,
            )
            for row in rows
        ),
    )


async def _execute(
    conn: BaseDBAsyncClient, query: str, values: Sequence[object]
) -> list[dict[str, Any]]:
    # The dict variant: asyncpg's execute_query drops the rows of UPDATE and DELETE.
    return await conn.execute_query_dict(_numbered(conn, query), list(values))


def _numbered(conn: BaseDBAsyncClient | None, query: str) -> str:
    # %s placeholders, as $1, $2 … for asyncpg or ? for SQLite (None: SQLite's own
    # thread): the one SQL text serves both databases.
    if conn is not None and conn.capabilities.dialect == "postgres":
        first, *rest = query.split("%s")
        return first + "".join(f"${number}{part}" for number, part in enumerate(rest, 1))
    return query.replace("%s", "?")


async def _delete_returning(
    conn: BaseDBAsyncClient, table: str, due_column: str, now: int, batch: int, returning: str
) -> list[str]:
    # A bounded batch (neither database supports DELETE ... LIMIT here) in one
    # statement; table and column names are ours, never client text.
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.capabilities.support_for_update else ""
    query = _delete_returning_query(table, due_column, returning, skip_locked)
    return [str(row[returning]) for row in await _execute(conn, query, [now, batch])]


def _delete_returning_query(table: str, due_column: str, returning: str, locking: str) -> str:
    return (
        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "  # noqa: S608
        f"WHERE {due_column} <= %s LIMIT %s{locking}) RETURNING {returning}"
    )
