"""Database set-up: Tortoise config from a URL, open/close, and safe migration.

Migrations are Aerich histories, one per dialect (Aerich writes raw SQL per
dialect), then the row upgrades that need the server keyring, which an Aerich
migration cannot reach (keying legacy sealed verifiers). ``migrate``
serialises concurrent starters: a PostgreSQL advisory lock on a separate
connection, or an exclusive file lock beside a SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import asyncpg
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from ots import crypto
from ots.config import Settings, sqlite_path
from ots.keyring import Keyring
from ots.models import SecretRecord

log = logging.getLogger("ots.db")

MODELS: Final = ["ots.models", "aerich.models"]
APP: Final = "models"
# Any constant works; it only has to be the same for every ots process.
MIGRATION_LOCK_ID: Final = 0x07_5EC2E7
# WAL lets readers run beside the writer; busy_timeout makes a second process
# wait for the write lock instead of failing; FULL makes a commit survive power loss;
# secure_delete zeroes deleted rows and freed pages instead of leaving them readable.
BUSY_TIMEOUT_MS: Final = 15000
SQLITE_PRAGMAS: Final = {
    "journal_mode": "WAL",
    "busy_timeout": BUSY_TIMEOUT_MS,
    "synchronous": "FULL",
    "secure_delete": "ON",
}
# Files beside the database that SQLite or ots create; all are kept private.
# Beside the database: the workers' queue for its write lock (ots.store.sqlite_engine).
WRITER_LOCK: Final = ".write-lock"
SQLITE_COMPANIONS: Final = ("", "-wal", "-shm", "-journal", ".migrate-lock", WRITER_LOCK)
PRIVATE: Final = 0o600
# Legacy verifiers keyed per transaction (one fsync each on SQLite).
VERIFIER_BATCH: Final = 500


@dataclass(frozen=True)
class Migrated:
    """What ``migrate`` did: the Aerich migrations it applied and the rows it upgraded."""

    applied: list[str]
    keyed_verifiers: int = 0


def tortoise_config(database_url: str) -> dict[str, Any]:
    """Return the Tortoise config dict for ``database_url``."""
    # The connection is named after the dialect: Tortoise caches compiled queries
    # per connection name, and a process (the test suite) may use both dialects.
    name = dialect(database_url)
    return {
        "connections": {name: _connection(database_url)},
        "apps": {APP: {"models": MODELS, "default_connection": name}},
        "use_tz": True,
        "timezone": "UTC",
    }


def dialect(database_url: str) -> str:
    """Return ``sqlite`` or ``postgres``: the name of the migration history to use."""
    return "sqlite" if database_url.startswith("sqlite://") else "postgres"


def migrations_root() -> Path:
    """Locate the migration histories: inside the wheel, or at the top of a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "migrations"
    return packaged if packaged.is_dir() else here.parent / "migrations"


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled PostgreSQL connection that skips asyncpg's reset query on release.

    asyncpg sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` each time a connection goes back to its pool: one more round
    trip for every statement of ots, which keeps no session state (no
    advisory locks, cursors, listeners or ``SET``; the migration lock has its
    own connection). An open transaction is still rolled back on release.
    """

    def get_reset_query(self) -> str:
        """Return nothing to send on release: there is no session state to reset."""
        return ""


def _connection(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite://"):
        pragmas: dict[str, Any] = dict(SQLITE_PRAGMAS)
        pragmas.update(parse_qsl(urlsplit(database_url).query))
        return {
            "engine": "tortoise.backends.sqlite",
            "credentials": {"file_path": sqlite_path(database_url), **pragmas},
        }
    parts = urlsplit(database_url)
    credentials: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "database": parts.path.lstrip("/") or "postgres",
        "minsize": 1,
        "maxsize": 10,
        # A dead or black-holed server must turn into a 503, not a hung request.
        "timeout": 5,
        "command_timeout": 10,
        "connection_class": PooledConnection,
    }
    credentials.update(parse_qsl(parts.query))
    return {"engine": "tortoise.backends.asyncpg", "credentials": credentials}


async def open_database(settings: Settings) -> TortoiseContext:
    """Initialise Tortoise for this process; connections open lazily on first query.

    The context is made the process-wide fallback so that every request task
    sees it, whichever task ran the start-up listener.
    """
    make_private(settings)
    return await Tortoise.init(
        config=tortoise_config(settings.database_url), _enable_global_fallback=True
    )


async def close_database(context: TortoiseContext) -> None:
    """Close the connections of ``context`` and drop it as the process-wide fallback."""
    await context.close_connections()


def make_private(settings: Settings) -> None:
    """Create the SQLite file mode 0600 if it is missing; make it and its companions 0600.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so a
    private database keeps them private whatever the umask. Files left 0644
    by an older release are tightened here. Nothing to do for PostgreSQL.
    """
    if not settings.is_sqlite:
        return
    path = sqlite_path(settings.database_url)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE))
    for suffix in SQLITE_COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path + suffix, PRIVATE)


async def migrate(settings: Settings, ring: Keyring | None = None) -> Migrated:
    """Apply pending migrations once, however many processes start together.

    With the server ``ring``, also key the verifiers of sealed secrets stored
    before verifiers were keyed (see ``key_legacy_verifiers``), under the same
    lock. Waits up to ``settings.db_wait`` seconds for the database to answer.

    Returns:
        The migration files applied by this call (empty when up to date) and
        how many verifiers it keyed.

    Raises:
        ConnectionError: the database did not answer within ``db_wait``.
    """
    from aerich import Command  # imported here: aerich is heavy and only needed at start

    make_private(settings)
    keyed = 0
    async with _migration_lock(settings):
        command = Command(
            tortoise_config(settings.database_url),
            app=APP,
            location=str(migrations_root() / dialect(settings.database_url)),
        )
        try:
            await command.init()
            applied: list[str] = await command.upgrade(run_in_transaction=True)
            if ring is not None:
                keyed = await key_legacy_verifiers(ring, dialect(settings.database_url))
        finally:
            await command.aclose()
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    if keyed:
        log.info("keyed the access verifiers of %d sealed secrets", keyed)
    if settings.is_sqlite:
        # A server that was killed may have left ended secrets in the WAL, and the
        # rows just upgraded left their legacy verifiers there.
        await asyncio.to_thread(_checkpoint, sqlite_path(settings.database_url))
    return Migrated(applied, keyed)


async def key_legacy_verifiers(ring: Keyring, connection: str, batch: int = VERIFIER_BATCH) -> int:
    """Replace each legacy (bare-digest) sealed verifier by its keyed form; return how many.

    A migration step, so it lives here and runs in the migration's Tortoise
    context, under its lock, before any store of this process exists: its
    few transactions (one per ``batch`` rows) wait in SQLite's busy handler
    like Aerich's own statements do, not in the store's group commit.

    A row whose server key is not in ``ring`` is left as it is: nothing can
    open it any more (or another replica holds its key, and keys it at its
    own start). Each update applies only if the row still holds what was
    read, so a secret revealed or burned meanwhile is simply skipped. Rows
    that servers of an older release store later are keyed at the next start;
    until then they are checked as they always were.
    """
    keyed = 0
    after = 0
    while True:
        rows = (
            await SecretRecord.filter(id__gt=after, key_id__isnull=False, verifier__isnull=False)
            .exclude(verifier__startswith=crypto.KEYED_VERIFIER_PREFIX)
            .order_by("id")
            .limit(batch)
            .values("id", "key_id", "verifier")
        )
        async with in_transaction(connection):
            for row in rows:
                server_key = ring.get(row["key_id"])
                if server_key is None:
                    continue
                replacement = crypto.key_legacy_verifier(row["verifier"], server_key)
                if replacement is None:
                    continue
                keyed += await SecretRecord.filter(id=row["id"], verifier=row["verifier"]).update(
                    verifier=replacement
                )
        if len(rows) < batch:
            return keyed
        after = rows[-1]["id"]


def _checkpoint(path: str) -> None:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def _migration_lock(settings: Settings) -> AsyncIterator[None]:
    if settings.is_sqlite:
        lock_path = Path(sqlite_path(settings.database_url) + ".migrate-lock")
        with os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE)) as handle:
            await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    creds = _connection(settings.database_url)["credentials"]
    conn = await _connect_with_wait(creds, settings.db_wait)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        yield
    finally:
        # The advisory lock belongs to this session: closing it releases the lock,
        # whether the migration succeeded or raised.
        await conn.close()


async def _connect_with_wait(
    creds: dict[str, Any],
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> asyncpg.Connection:
    # Tries until ``wait`` seconds have passed, the last try at the deadline itself:
    # giving up before it would break what OTS_DB_WAIT promises.
    deadline = clock() + wait
    delay = 0.2
    while True:
        try:
            return await asyncpg.connect(
                host=creds["host"],
                port=creds["port"],
                user=creds["user"],
                password=creds["password"] or None,
                database=creds["database"],
                timeout=5,
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            remaining = deadline - clock()
            if remaining <= 0:
                raise ConnectionError(f"database unreachable: {exc}") from exc
            log.warning("database not reachable yet (%s); retrying", type(exc).__name__)
            await sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)
