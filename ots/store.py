"""The only module that queries the database: ``TortoiseStore``.

It executes what the service decided and decides nothing itself. Every
method takes ``now`` (epoch seconds) from the caller, so expiry is
decided by one injectable clock. Database failures surface as
``UnavailableError``; callers never see a driver exception.

Exactly-once reads: ``claim`` is the only way a secret leaves the table for
a reader. On PostgreSQL it is a select-for-update and delete in one
transaction. On SQLite ``FOR UPDATE`` does not exist and a transaction that
reads before it writes fails with ``database is locked`` when another
process wrote in between, so there the claim is a single ``DELETE`` whose
row count (1 or 0) decides the winner. Both are atomic across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.expressions import F, Subquery
from tortoise.models import Model
from tortoise.transactions import in_transaction

from ots import metrics
from ots.domain import (
    Destruction,
    KdfParams,
    NewSecret,
    Receipt,
    Sealed,
    State,
    StoredSecret,
    StoredTotals,
)
from ots.errors import UnavailableError
from ots.models import ReceiptRecord, SecretRecord

log = logging.getLogger("ots.store")

P = ParamSpec("P")
R = TypeVar("R")

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
    """The secrets and receipts tables, through Tortoise's connection of this process."""

    @translate_db_errors
    async def insert_secret(self, new: NewSecret) -> None:
        """Store a sealed secret and its pending receipt; both are committed on return."""
        async with in_transaction() as conn:
            sealed = new.sealed
            await SecretRecord.create(
                using_db=conn,
                lookup=new.lookup,
                salt=sealed.salt,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
                kdf_time_cost=sealed.kdf.time_cost,
                kdf_memory_kib=sealed.kdf.memory_kib,
                kdf_parallelism=sealed.kdf.parallelism,
                key_id=sealed.key_id,
                created_at=new.created_at,
                expires_at=new.expires_at,
            )
            await ReceiptRecord.create(
                using_db=conn,
                lookup=new.receipt_lookup,
                secret_lookup=new.lookup,
                state=State.PENDING.value,
                created_at=new.created_at,
                expires_at=new.expires_at,
                revealed_at=None,
                failed_attempts=0,
                purge_at=new.purge_at,
            )

    @translate_db_errors
    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None."""
        row = await SecretRecord.filter(lookup=lookup, expires_at__gt=now).first()
        if row is None:
            return None
        return StoredSecret(
            id=row.id,
            sealed=Sealed(
                salt=bytes(row.salt),
                nonce=bytes(row.nonce),
                ciphertext=bytes(row.ciphertext),
                kdf=KdfParams(row.kdf_time_cost, row.kdf_memory_kib, row.kdf_parallelism),
                key_id=row.key_id,
            ),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    @translate_db_errors
    async def claim(self, secret_id: int, lookup: str, now: int, purge_at: int) -> bool:
        """Atomically take an unexpired secret out of the table for its one reader.

        The receipt turns revealed in the same transaction. Locks are taken
        secret first, receipt second, as ``burn`` does, so the two cannot deadlock.

        Returns:
            True for exactly one caller; False if it was already read, burned,
            destroyed or expired.
        """
        async with in_transaction() as conn:
            live = SecretRecord.filter(id=secret_id, expires_at__gt=now).using_db(conn)
            if conn.capabilities.support_for_update:
                # values_list() silently drops FOR UPDATE in Tortoise; only() keeps it.
                locked = await live.select_for_update().only("id").first()
                if locked is None:
                    return False
            if await live.delete() != 1:
                return False
            await _end_receipt(conn, lookup, State.REVEALED, purge_at, revealed_at=now)
            return True

    @translate_db_errors
    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> bool:
        """Destroy the pending secret behind a receipt.

        The first statement deletes the secret (a write, so SQLite takes its
        write lock before reading anything); a racing reveal and burn are
        decided by which delete removes the row.

        Returns:
            True if this call destroyed the secret; False if there was no pending
            secret behind the receipt (or no receipt).
        """
        async with in_transaction() as conn:
            secret_lookup = ReceiptRecord.filter(lookup=receipt_lookup).values("secret_lookup")
            deleted = (
                await SecretRecord.filter(lookup__in=Subquery(secret_lookup), expires_at__gt=now)
                .using_db(conn)
                .delete()
            )
            if not deleted:
                return False
            await (
                ReceiptRecord.filter(lookup=receipt_lookup)
                .using_db(conn)
                .update(state=State.BURNED.value, purge_at=purge_at)
            )
            return True

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
            if count >= destruction.after_failures:
                await SecretRecord.filter(id=secret_id).using_db(conn).delete()
                await _end_receipt(conn, lookup, destruction.reads_as, destruction.purge_at)
            return count

    @translate_db_errors
    async def delete_expired_secrets(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` expired secrets; return how many went."""
        return await _delete_batch(SecretRecord, batch, expires_at__lte=now)

    @translate_db_errors
    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts whose retention has passed; return how many went."""
        return await _delete_batch(ReceiptRecord, batch, purge_at__lte=now)

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


async def _end_receipt(
    conn: BaseDBAsyncClient, lookup: str, state: State, purge_at: int, **changes: int
) -> None:
    await (
        ReceiptRecord.filter(secret_lookup=lookup)
        .using_db(conn)
        .update(state=state.value, purge_at=purge_at, **changes)
    )


async def _delete_batch(model: type[Model], batch: int, **due: int) -> int:
    # Ids first, then a delete by id that re-checks the condition: a bounded,
    # short statement on both databases (neither supports DELETE ... LIMIT here).
    ids = await model.filter(**due).limit(batch).values_list("id", flat=True)
    if not ids:
        return 0
    return await model.filter(id__in=list(ids), **due).delete()
