"""``TortoiseStore``: the store the service and the delivery loop talk to, on either database.

It executes what the service decided and decides nothing itself. Every
method takes ``now`` (epoch seconds) from the caller, so expiry is decided
by one injectable clock. The backend of the database Tortoise is configured
for is picked once, when the store opens (``open_store``); every call is
handed to it. What the façade adds is the same on both databases: each
call runs in a shielded task of its own, and a database failure surfaces as
``UnavailableError``, so callers never see a driver exception.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DBConnectionError, OperationalError

from ots import metrics
from ots.domain import (
    ClientTotals,
    Destruction,
    DueDelivery,
    Failure,
    Finished,
    NewSecret,
    Receipt,
    StoredSecret,
    StoredTotals,
    Transition,
)
from ots.errors import UnavailableError
from ots.models import SecretRecord
from ots.store.backend import Backend, Row, Step
from ots.store.postgres import PostgresBackend
from ots.store.sqlite import SqliteBackend

log = logging.getLogger("ots.store")
P = ParamSpec("P")
R = TypeVar("R")
# How long a ping may take before the database counts as not answering.
PING_TIMEOUT: Final = 3

# What a lost, refused, locked or timed-out database raises through either backend.
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


def translated(
    method: Callable[Concatenate[TortoiseStore, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[TortoiseStore, P], Coroutine[Any, Any, R]]:
    """Run ``method`` in its own, shielded task; turn database failures into ``UnavailableError``.

    The task matters: when the connection dies as a transaction begins,
    Tortoise leaves that dead transaction registered in the caller's context.
    Sanic serves every request of a keep-alive connection in one task, so
    without isolation all of them would keep failing after the database is
    back. A child task gets a copy of the context and the leak dies with it.
    """

    @functools.wraps(method)
    async def wrapper(store: TortoiseStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        task = asyncio.create_task(method(store, *args, **kwargs))
        # Its outcome is read here, or dropped quietly if the caller left.
        task.add_done_callback(_consume)
        try:
            # Shielded: a request cancelled (client gone, timeout) must not cancel a
            # statement or transaction half-way, nor a write its group commit holds.
            return await asyncio.shield(task)
        except DATABASE_DOWN as exc:
            # The message may carry SQL or a host name: it goes to the log, never to a client.
            log.error("database error in %s: %s: %s", method.__name__, type(exc).__name__, exc)
            metrics.DATABASE_ERRORS.inc()
            if isinstance(exc, CONNECTION_LOST):
                await store.backend.recycle()
            raise UnavailableError from exc

    return wrapper


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


# Each database kind's backend, by Tortoise's name for the dialect.
BACKENDS: Final[dict[str, Callable[[Any], Backend]]] = {
    "sqlite": SqliteBackend.of,
    "postgres": PostgresBackend,
}


def open_store(connection: BaseDBAsyncClient | None = None) -> TortoiseStore:
    """Return the store over ``connection`` (default: the models' Tortoise connection).

    Its kind picks the backend, once: SQLite's runs on connections of its
    own to the same file, PostgreSQL's on Tortoise's pool. Nothing is opened
    until the first call.
    """
    connection = connection or SecretRecord._meta.db
    return TortoiseStore(BACKENDS[connection.capabilities.dialect](connection))


class TortoiseStore:
    """The secrets, receipts, webhooks and outbox tables, through one database's backend."""

    def __init__(self, backend: Backend) -> None:
        """Hand every call to ``backend``."""
        self.backend = backend

    async def close(self) -> None:
        """Close the connections the backend opened itself (SQLite's)."""
        await self.backend.close()

    @translated
    async def insert_secret(self, new: NewSecret) -> Transition:
        """Store an encrypted secret, its pending receipt and its webhook; committed on return.

        Returns:
            Its ``created`` transition.
        """
        return await self.backend.insert_secret(new)

    @translated
    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None.

        On every reveal and check: raw SQL, no model instance (which costs more
        than the query), and on SQLite a read on the event loop's thread that never
        waits behind a commit.
        """
        return await self.backend.find_live(lookup, now)

    @translated
    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Atomically take an unexpired secret out of the table for its one reader.

        Exactly once: a ``DELETE`` whose row count (1 or 0) decides the winner,
        the transaction's first statement (SQLite) or a statement that locks
        the row it removes (PostgreSQL). The receipt turns revealed, and the
        webhook's outbox row is written, in the same transaction.

        Returns:
            Its ``revealed`` transition, for exactly one caller; None if it was
            already read, burned, destroyed or expired.
        """
        return await self.backend.claim(secret_id, lookup, now, purge_at)

    @translated
    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Take a sealed secret for the holder of its proof, in one statement.

        The ``DELETE`` matches the lookup, the server key ``key_id`` and the
        stored (keyed) ``verifier`` at once, so a reveal with the right proof
        takes one round trip; exactly once as for ``claim``.

        Returns:
            The row as it was (to open) and its ``revealed`` transition; None if
            no unexpired row matches: unknown, ended, another key or mode, or a
            wrong proof (the caller then looks, to say which, and counts).
        """
        return await self.backend.claim_sealed(lookup, key_id, verifier, now, purge_at)

    @translated
    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Destroy the pending secret behind a receipt.

        The first statement deletes the secret, so a racing reveal and burn
        are decided by which delete removes the row.

        Returns:
            The ``burned`` transition of the secret this call destroyed; None if
            there was no pending secret behind the receipt (or no receipt).
        """
        return await self.backend.burn(receipt_lookup, now, purge_at)

    @translated
    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Return the receipt stored under ``receipt_lookup`` unless it is due for purging.

        Its state is the stored one: pending, revealed or burned.
        """
        return await self.backend.find_receipt(receipt_lookup, now)

    @translated
    async def check(self, lookup: str, now: int) -> int:
        """Record a status check of the secret stored under ``lookup``.

        The receipt's ``opened_at`` becomes ``now`` on the first check only;
        a later check reads and writes nothing more.

        Returns:
            The secret's wrong-passphrase count.
        """
        return await self.backend.check(lookup, now)

    @translated
    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Count one wrong passphrase; destroy the secret as ``destruction`` says.

        When to destroy is the caller's decision; which event that is (and how
        the receipt then reads) is the domain's; doing the count and the
        destruction in one transaction is this method's. The count lives in
        the receipt, never in the secret's row: on PostgreSQL every update of
        that row would leave one more dead copy of the ciphertext. No update
        is lost under races: the increment takes the write lock before
        anything is read (SQLite), or comes after the secret's row lock
        (PostgreSQL).

        Returns:
            The failure count after this one and the transition committed
            (``wrong_passphrase``, or ``destroyed``); None if the secret is gone.
        """
        return await self.backend.record_failure(secret_id, lookup, now, destruction)

    @translated
    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """Delete at most ``batch`` expired secrets: the ``expired`` transition of those removed.

        One ``DELETE … RETURNING`` per batch: of two sweepers racing, each
        secret is returned to (and its ``expired`` event written by) one only.
        """
        return await self.backend.delete_expired_secrets(now, batch)

    @translated
    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """Delete at most ``batch`` expired requests, answered or not, with their notes.

        One ``DELETE … RETURNING`` per batch, as for secrets.

        Returns:
            How many went, and the ``expired`` transition of those never answered
            (their answers' receipts then read expired), with the outbox rows of
            their webhooks written in the same transaction.
        """
        return await self.backend.delete_expired_requests(now, batch)

    @translated
    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts past retention, with their webhooks and deliveries.

        Returns:
            How many receipts went.
        """
        return await self.backend.delete_purged_receipts(now, batch)

    @translated
    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """Lease at most ``limit`` due deliveries until ``until``, counting the attempt.

        No row is leased twice: the lease is one ``UPDATE`` whose subquery
        picks the rows (PostgreSQL's skips those other workers hold; SQLite
        runs one writer at a time).
        """
        return await self.backend.lease_deliveries(now, until, limit)

    @translated
    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give back leases taken ``until`` that were not used: nothing was sent.

        Each row is due again at ``retry_at`` and its attempt is not counted. A
        row whose lease is no longer ``until`` (it ran out and another worker
        took the row) is left alone.

        Returns:
            How many rows were given back.
        """
        return await self.backend.release_deliveries(ids, until, retry_at)

    @translated
    async def finish_delivery(self, finished: Finished) -> None:
        """Record what became of one delivery attempt, and release its lease."""
        await self.backend.finish_delivery(finished)

    @translated
    async def totals(self, now: int) -> StoredTotals:
        """Return the live secrets, their ciphertext bytes, and the receipts kept.

        The secrets are an index range scan on ``expires_at``; the lengths come
        from the row headers (neither database reads the ciphertext itself).
        """
        return await self.backend.totals(now)

    @translated
    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Return the live secrets stored under any of the quota ``tags``, and their bytes.

        An index range scan on ``(quota_tag, expires_at)``: one client's rows
        only. It may run on a create (``ots.quota``), so on SQLite it reads on
        the reader's thread, never behind a commit.
        """
        if not tags:
            return ClientTotals(0, 0)
        return await self.backend.client_totals(tags, now)

    @translated
    async def erase_ended(self) -> bool:
        """Make deleted secrets physically unrecoverable; return whether the pass completed.

        SQLite keeps deleted pages in its WAL until a checkpoint; a pass that
        could not complete (another connection reading an older snapshot) is
        tried again by the caller. PostgreSQL has nothing to do here.
        """
        return await self.backend.erase_ended()

    @translated
    async def read(self, template: str, values: Sequence[object]) -> list[Row]:
        """Run one reading statement of ``ots.store.sql``'s kind (``%s`` marks); return its rows.

        For the rooms whose every read and write is one statement (``ots.store.tokens``):
        written once for both databases, run each database's way.
        """
        return await self.backend.read(template, values)

    @translated
    async def write(self, template: str, values: Sequence[object]) -> list[Row]:
        """Run one writing statement in a transaction of its own; return its ``RETURNING`` rows.

        On SQLite it is a write of the group commit, as every other write.
        """
        return await self.backend.write(template, values)

    @translated
    async def write_if(self, steps: Sequence[Step]) -> list[list[Row]] | None:
        """Run several writing statements in one transaction, if the first returns a row.

        The first step decides: a conditional ``UPDATE`` or ``DELETE … RETURNING``
        that matches nothing (another caller won) leaves the rest unrun and
        returns None. On SQLite the whole is one write of the group commit; on
        PostgreSQL the first step's row lock serialises racing callers.

        Returns:
            Each step's ``RETURNING`` rows, or None.
        """
        return await self.backend.write_if(steps)

    async def ping(self) -> None:
        """Run a trivial query; raise ``UnavailableError`` if the database does not answer.

        One retry: the first failure after an outage may only be a stale pooled
        connection, which the failure itself has recycled.
        """
        try:
            await self._select_one()
        except UnavailableError:
            await self._select_one()

    @translated
    async def _select_one(self) -> None:
        await asyncio.wait_for(self.backend.ping(), timeout=PING_TIMEOUT)
