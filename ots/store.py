"""The only module that queries the database.

Every function takes ``now`` (epoch seconds) from the caller, so expiry is
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
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import asyncpg
from tortoise.exceptions import DBConnectionError, OperationalError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ots.crypto import KdfParams, Sealed
from ots.errors import UnavailableError
from ots.models import SecretRecord

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


@dataclass(frozen=True)
class StoredSecret:
    """A live secret as read from its row."""

    id: int
    sealed: Sealed
    failed_attempts: int
    created_at: int
    expires_at: int


def translate_db_errors(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn any database failure inside ``func`` into ``UnavailableError`` (503)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except DATABASE_DOWN as exc:
            # The message may carry SQL or a host name: it goes to the log, never to a client.
            log.error("database error in %s: %s: %s", func.__name__, type(exc).__name__, exc)
            raise UnavailableError from exc

    return wrapper


@translate_db_errors
async def insert_secret(*, lookup: str, sealed: Sealed, created_at: int, expires_at: int) -> None:
    """Store a sealed secret; it is committed when this returns."""
    await SecretRecord.create(
        lookup=lookup,
        salt=sealed.salt,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
        kdf_time_cost=sealed.kdf.time_cost,
        kdf_memory_kib=sealed.kdf.memory_kib,
        kdf_parallelism=sealed.kdf.parallelism,
        failed_attempts=0,
        created_at=created_at,
        expires_at=expires_at,
    )


@translate_db_errors
async def find_live(lookup: str, now: int) -> StoredSecret | None:
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
        ),
        failed_attempts=row.failed_attempts,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


@translate_db_errors
async def claim(secret_id: int, now: int) -> bool:
    """Atomically take an unexpired secret out of the table for its one reader.

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
        return await live.delete() == 1


@translate_db_errors
async def record_failure(secret_id: int, now: int, max_attempts: int) -> int | None:
    """Count one wrong passphrase; destroy the secret at ``max_attempts``.

    The increment is the transaction's first statement, so it takes the write
    lock before anything is read: no update is lost under races.

    Returns:
        The failure count after this one, or None if the secret is gone.
    """
    async with in_transaction() as conn:
        live = SecretRecord.filter(id=secret_id, expires_at__gt=now).using_db(conn)
        if await live.update(failed_attempts=F("failed_attempts") + 1) == 0:
            return None
        row = await SecretRecord.filter(id=secret_id).using_db(conn).only("failed_attempts").get()
        count = row.failed_attempts
        if count >= max_attempts:
            await SecretRecord.filter(id=secret_id).using_db(conn).delete()
        return count


@translate_db_errors
async def sweep_expired(now: int, batch: int) -> int:
    """Delete at most ``batch`` expired secrets; return how many went."""
    ids = await SecretRecord.filter(expires_at__lte=now).limit(batch).values_list("id", flat=True)
    if not ids:
        return 0
    return await SecretRecord.filter(id__in=list(ids), expires_at__lte=now).delete()


@translate_db_errors
async def ping() -> None:
    """Run a trivial query; raise ``UnavailableError`` if the database does not answer."""
    await asyncio.wait_for(SecretRecord._meta.db.execute_query("SELECT 1"), timeout=3)
