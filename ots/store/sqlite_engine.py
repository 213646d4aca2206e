"""SQLite's engine under the store: connections of its own, the group commit, the writers' queue.

The store opens its own two connections to the SQLite file, each used only on
a thread of its own (``SqliteThread``): one writes, one reads. It borrows
nothing from Tortoise's connection: running a function on aiosqlite's thread
has no public API, and a transaction must start with ``BEGIN IMMEDIATE``,
which Tortoise never sends. The connections get the pragmas Tortoise's own
would (``busy_timeout``, ``synchronous``, ``secure_delete`` …), and never
create the file (``db.make_private`` made it, private).

- ``GroupCommit``: every write of the store, committed in shared
  transactions with one ``fsync`` each.
- ``WriterQueue``: the workers' queue for the write lock, an ``flock``.
- ``SqliteReader``: reads on the second connection, which never waits for a
  commit (WAL readers take no lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ots.db import BUSY_TIMEOUT_MS, PRIVATE, WRITER_LOCK

R = TypeVar("R")
# A write of a group commit: runs on the writer's thread, inside the group's transaction.
Write = Callable[[sqlite3.Connection], R]
Pragmas = Sequence[tuple[str, object]]


class SqliteThread:
    """One sqlite3 connection to a file, opened and used only on a thread of its own.

    Opened by the first job; a job that could not open it fails and the next
    tries again. Once closed, every job fails with ``sqlite3.OperationalError``
    (the store's word for a database that cannot answer: 503, never a 500).
    """

    def __init__(self, path: str, pragmas: Pragmas, name: str) -> None:
        """Connect to the file at ``path`` with ``pragmas`` on first use; ``name`` the thread."""
        self.path = path
        self._pragmas = tuple(pragmas)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        # Touched only on the thread.
        self._db: sqlite3.Connection | None = None
        self._closed = False

    async def run(self, job: Callable[[sqlite3.Connection], R]) -> R:
        """Run ``job`` with the connection on its thread; return what it returns.

        Raises:
            sqlite3.Error: the job's, or the connection's (missing file, closed).
        """
        if self._closed:
            raise sqlite3.OperationalError("the store's SQLite connection is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, job)

    async def close(self) -> None:
        """Close the connection once the jobs already queued have run; idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _call(self, job: Callable[[sqlite3.Connection], R]) -> R:
        if self._closed and self._db is None:
            raise sqlite3.OperationalError("the store's SQLite connection is closed")
        if self._db is None:
            self._db = self._open()
        return job(self._db)

    def _open(self) -> sqlite3.Connection:
        # mode=rw: a missing file is an error here, never created (and world-readable).
        uri = f"{Path(self.path).absolute().as_uri()}?mode=rw"
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            for pragma, value in self._pragmas:
                # Names and values are ots's (or the operator's URL): never client text.
                db.execute(f"PRAGMA {pragma} = {value}").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


class WriterQueue:
    """The workers' queue for SQLite's write lock: an ``flock`` on a file beside the database.

    SQLite makes a writer that finds the lock taken sleep and try again, in
    steps of 1, 2, 5, 10 … 100 ms, however soon the lock is free: two busy
    workers then spend much of their time asleep. A blocking ``flock``
    wakes its waiter as soon as the holder lets go. Every write of the store
    queues here; any other writer (a migration, ``ots keys``) still waits in
    SQLite's busy handler. The kernel drops the lock of a process that dies.
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


class GroupCommit:
    """Every write of the store on SQLite, committed in shared transactions.

    Each write is a function run on the writer's thread. The writes that
    arrive while a transaction commits wait for it, then go together in the
    next: one hop to the thread, one turn of the writers' queue, one
    ``BEGIN IMMEDIATE`` (the write lock before anything is read, so nothing
    read can go stale), one commit and one ``fsync`` for all of them. Each
    caller is answered only after the commit that holds its write, so an
    acknowledged write is as durable as one committed alone. If one write
    of a group breaks a constraint, the group is rolled back and each write
    runs again alone, so only that one fails; any other error (locked, I/O,
    disk full) is every caller's.
    """

    def __init__(self, writer: SqliteThread, queue: WriterQueue) -> None:
        """Write through ``writer``, taking turns on ``queue``."""
        self._writer = writer
        self._queue = queue
        self._waiting: list[tuple[Write[Any], asyncio.Future[Any]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def run(self, write: Write[R]) -> R:
        """Run ``write`` in the next transaction; return its result once that committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._commit_waiting())
        return await future

    async def run_alone(self, job: Write[R]) -> R:
        """Run ``job`` on the writer's connection in this worker's turn, outside a transaction.

        For what SQLite refuses inside one, such as a WAL checkpoint.
        """
        return await self._writer.run(functools.partial(_in_turn, self._queue, job))

    async def _commit_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                commit = functools.partial(commit_group, self._queue, [w for w, _ in group])
                outcomes: list[object] = await self._writer.run(commit)
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


def commit_group(
    queue: WriterQueue, writes: Sequence[Write[object]], db: sqlite3.Connection
) -> list[object]:
    """Commit ``writes`` on the writer's thread; return each one's result or exception."""
    with queue.turn():
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


def _in_turn(queue: WriterQueue, job: Write[R], db: sqlite3.Connection) -> R:
    with queue.turn():
        return job(db)


class SqliteReader:
    """A worker's read-only connection to the SQLite file.

    Writes hold the writer's connection while they wait for the writers'
    queue and commit: a reveal's lookup there would wait for the other
    worker's commit and then for this worker's own. In WAL mode a reader
    takes no lock and sees every committed write, so on a connection (and
    thread) of its own a read goes at once. ``query_only``, so it can never write.
    """

    def __init__(self, path: str) -> None:
        """Read the SQLite file at ``path``; nothing is opened yet."""
        self.path = path
        pragmas = (("query_only", "ON"), ("busy_timeout", BUSY_TIMEOUT_MS))
        self._thread = SqliteThread(path, pragmas, "ots-sqlite-read")

    async def fetch(self, query: str, values: Sequence[object]) -> list[sqlite3.Row]:
        """Run one ``SELECT`` (``?`` placeholders); return its rows.

        Raises:
            sqlite3.Error: the file cannot be read, or the reader was closed.
        """
        return await self._thread.run(lambda db: db.execute(query, values).fetchall())

    async def close(self) -> None:
        """Close the connection, once the reads already queued on it have run."""
        await self._thread.close()
