"""SQLite's engine under the store: connections of its own, the group commit, the writers' queue.

The store opens connections of its own to the SQLite file: one writes, on a
thread of its own (``SqliteThread``); one reads, on a thread of its own too;
and one answers reads by key on the event loop's thread. It borrows
nothing from Tortoise's connection: running a function on aiosqlite's thread
has no public API, and a transaction must start with ``BEGIN IMMEDIATE``,
which Tortoise never sends. The connections get the pragmas Tortoise's own
would (``busy_timeout``, ``synchronous``, ``secure_delete`` …), and never
create the file (``db.make_private`` made it, private).

- ``GroupCommit``: every write of the store, committed in shared
  transactions with one ``fsync`` each.
- ``WriterQueue``: the workers' queue for the write lock, an ``flock``.
- ``SqliteReader``: reads, which never wait for a commit (WAL readers take
  no lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import itertools
import os
import sqlite3
import threading
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

    @property
    def closed(self) -> bool:
        """Tell whether ``close`` was called: no new job is taken."""
        return self._closed

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
        return connect(self.path, self._pragmas)

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


def connect(path: str, pragmas: Pragmas, *, any_thread: bool = False) -> sqlite3.Connection:
    """Open the existing SQLite file at ``path`` with ``pragmas``; rows read as ``sqlite3.Row``.

    ``any_thread``: the connection may be used and closed on threads other
    than the one that opened it, one at a time (the caller's lock sees to it).

    Raises:
        sqlite3.Error: the file is missing or cannot be opened.
    """
    # mode=rw: a missing file is an error here, never created (and world-readable).
    uri = f"{Path(path).absolute().as_uri()}?mode=rw"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=not any_thread)
    try:
        db.row_factory = sqlite3.Row
        for pragma, value in pragmas:
            # Names and values are ots's (or the operator's URL): never client text.
            db.execute(f"PRAGMA {pragma} = {value}").fetchall()
    except BaseException:
        db.close()
        raise
    return db


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
    arrive while a transaction commits, or while this worker waits for its
    turn on the writers' queue, go together in the next transaction: one
    ``BEGIN IMMEDIATE`` (the write lock before anything is read, so nothing
    read can go stale), one commit and one ``fsync`` for all of them. Each
    caller is answered only after the commit that holds its write, so an
    acknowledged write is as durable as one committed alone. If one write of
    a group breaks a constraint, the group is rolled back and each write runs
    again alone, so only that one fails; any other error (locked, I/O, disk
    full) is every caller's.

    The writer's thread takes the turn first and only then what waits: with
    two workers, a write that arrives during the other's commit goes in this
    worker's next one instead of waiting for one more of each. In one turn
    it runs everything it took (groups of writes, and in their places the
    jobs that run alone), lets go, and then hands the answers back to the
    event loop without waiting for it: a busy loop (which may take
    milliseconds to come round to a finished job) never holds the writes
    back, and the writers' queue, which the two workers take turns on, is
    held only while SQLite works. Then it takes the turn again while
    anything waits.
    """

    def __init__(self, writer: SqliteThread, queue: WriterQueue) -> None:
        """Write through ``writer``, taking turns on ``queue``."""
        self._writer = writer
        self._queue = queue
        # Shared by the event loop and the writer's thread: touched under the lock.
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._draining = False
        self._drain: asyncio.Task[None] | None = None

    async def run(self, write: Write[R]) -> R:
        """Run ``write`` in the next transaction; return its result once that committed."""
        return await self._enqueue(write, alone=False)

    async def run_alone(self, job: Write[R]) -> R:
        """Run ``job`` on the writer's connection in this worker's turn, outside a transaction.

        For what SQLite refuses inside one, such as a WAL checkpoint. It takes
        its place among the writes, so a steady stream of them never starves it.
        """
        return await self._enqueue(job, alone=True)

    async def _enqueue(self, write: Write[R], *, alone: bool) -> R:
        if self._writer.closed:
            # Shutting down: the queue drains, and nothing new joins it.
            raise sqlite3.OperationalError("the store's SQLite connection is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            self._waiting.append(_Waiting(write, future, alone))
            start, self._draining = not self._draining, True
        if start:
            self._drain = asyncio.create_task(self._drain_on_thread())
        return await future

    async def _drain_on_thread(self) -> None:
        try:
            await self._writer.run(self._commit_waiting)
        except asyncio.CancelledError:
            self._fail_waiting(None)
            raise
        except Exception as exc:  # the connection could not be had: every caller's
            self._fail_waiting(exc)

    def _fail_waiting(self, error: Exception | None) -> None:
        # The thread did not run (or stopped): what waits gets the error, or is cancelled.
        with self._lock:
            waiting, self._waiting, self._draining = self._waiting, [], False
        for item in waiting:
            if item.future.done():
                continue
            if error is None:
                item.future.cancel()
            else:
                item.future.set_exception(error)

    def _commit_waiting(self, db: sqlite3.Connection) -> None:
        # On the writer's thread, until nothing waits: the turn, what waits, its answers.
        while True:
            with self._lock:
                if not self._waiting:
                    self._draining = False
                    return
            waiting: list[_Waiting] = []
            done: list[tuple[list[_Waiting], list[object]]] = []
            try:
                with self._queue.turn():
                    # Taken in the turn: what arrived while it was awaited goes too. (A
                    # failure on the loop may have emptied the list: then nothing runs.)
                    with self._lock:
                        waiting, self._waiting = self._waiting, []
                    for group, outcomes in _run_in_order(waiting, db):
                        done.append((group, outcomes))
            except BaseException as exc:
                # The turn could not be had (its file), or a bug: the writes taken and not
                # run get the error, those still waiting get it from the caller of this
                # job, and the next write drains anew.
                with self._lock:
                    self._draining = False
                # What ran is a prefix of what was taken: the groups come in order.
                rest = waiting[sum(len(group) for group, _ in done) :]
                error = exc if isinstance(exc, Exception) else RuntimeError("the writer stopped")
                _answer_on_loop(rest, [error] * len(rest))
                raise
            finally:
                # After the turn is let go; what ran gets its own outcome, committed or not.
                for group, outcomes in done:
                    _answer_on_loop(group, outcomes)


@dataclasses.dataclass(frozen=True)
class _Waiting:
    # A write (or a job to run alone) and the future its caller awaits.
    write: Write[Any]
    future: asyncio.Future[Any]
    alone: bool


def _run_in_order(
    waiting: list[_Waiting], db: sqlite3.Connection
) -> Iterator[tuple[list[_Waiting], list[object]]]:
    # In this worker's turn: the writes between two jobs to run alone share a
    # transaction; each job runs in its place.
    for alone, items in itertools.groupby(waiting, key=lambda item: item.alone):
        group = list(items)
        if alone:
            for item in group:
                yield [item], [_outcome(item.write, db)]
            continue
        try:
            outcomes = commit_group([item.write for item in group], db)
        except Exception as exc:  # each caller gets what the group got
            outcomes = [exc] * len(group)
        yield group, outcomes


def _outcome(job: Write[object], db: sqlite3.Connection) -> object:
    try:
        return job(db)
    except Exception as exc:
        return exc


def _answer_on_loop(group: list[_Waiting], outcomes: list[object]) -> None:
    # From the writer's thread: each caller is answered on its own event loop, with one
    # wake-up of each loop for the whole group.
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], object]]] = {}
    for item, outcome in zip(group, outcomes, strict=True):
        answers.setdefault(item.future.get_loop(), []).append((item.future, outcome))
    for loop, settled in answers.items():
        # A loop already closed (shutdown) has nobody to answer.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, settled)


def _settle(answers: list[tuple[asyncio.Future[Any], object]]) -> None:
    # On the event loop: each caller that still waits gets its write's outcome.
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def commit_group(writes: Sequence[Write[object]], db: sqlite3.Connection) -> list[object]:
    """Commit ``writes`` on the writer's thread, in its turn; return each one's result or error."""
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


# The reader's thread waits for a lock held elsewhere; the event loop's connection never
# does (busy_timeout 0: an error at once, and the reader's thread does the waiting).
_READ_ONLY: Pragmas = (("query_only", "ON"), ("busy_timeout", BUSY_TIMEOUT_MS))
_READ_ONLY_NOW: Pragmas = (("query_only", "ON"), ("busy_timeout", 0))


class SqliteReader:
    """A worker's read-only connections to the SQLite file.

    Writes hold the writer's connection while they wait for the writers'
    queue and commit: a reveal's lookup there would wait for the other
    worker's commit and then for this worker's own. In WAL mode a reader
    takes no lock and sees every committed write, so on connections of its
    own a read goes at once. Every one is ``query_only``, so none of them
    can write.

    A read by key (``lookup``: a secret, a receipt, a few rows through an
    index) takes some microseconds, less than handing it to a thread and
    back, so it runs on the caller's thread, on a connection that never
    waits in SQLite's busy handler. Anything that may scan (``fetch``:
    counts, lists) runs on the reader's thread, and so does a lookup that
    fails there, busy or not: the reader's thread may wait.
    """

    def __init__(self, path: str) -> None:
        """Read the SQLite file at ``path``; nothing is opened yet."""
        self.path = path
        self._thread = SqliteThread(path, _READ_ONLY, "ots-sqlite-read")
        # The caller's connection: opened by the first lookup, then used by that thread
        # (the event loop's) alone until it fails or closes. The lock covers opening,
        # using and closing it, so that close() from any thread never meets a read.
        self._inline_lock = threading.Lock()
        self._inline: sqlite3.Connection | None = None
        self._inline_owner: int | None = None
        self._closed = False

    async def fetch(self, query: str, values: Sequence[object]) -> list[sqlite3.Row]:
        """Run one ``SELECT`` (``?`` placeholders) on the reader's thread; return its rows.

        Raises:
            sqlite3.Error: the file cannot be read, or the reader was closed.
        """
        return await self._thread.run(lambda db: db.execute(query, values).fetchall())

    async def lookup(self, query: str, values: Sequence[object]) -> list[sqlite3.Row]:
        """Run one ``SELECT`` that reads a few rows by key; return its rows.

        It runs on the caller's thread when that thread owns the inline
        connection; otherwise, or when it fails there, as ``fetch``.

        Raises:
            sqlite3.Error: the file cannot be read, or the reader was closed.
        """
        rows = self._inline_read(query, values)
        return await self.fetch(query, values) if rows is None else rows

    async def close(self) -> None:
        """Close the connections, once the reads already queued on the thread have run."""
        with self._inline_lock:
            self._closed = True
            self._close_inline()
        await self._thread.close()

    def _inline_read(self, query: str, values: Sequence[object]) -> list[sqlite3.Row] | None:
        # The rows, read on the caller's thread; None: read them on the reader's thread.
        me = threading.get_ident()
        with self._inline_lock:
            if self._closed or self._inline_owner not in (None, me):
                return None
            if self._inline is None:
                try:
                    self._inline = connect(self.path, _READ_ONLY_NOW, any_thread=True)
                except sqlite3.Error:
                    return None
                self._inline_owner = me
            try:
                return self._inline.execute(query, values).fetchall()
            except sqlite3.Error:
                # Busy (another program's exclusive lock, a log being recovered) or
                # broken: a fresh connection next time, whichever thread asks first.
                self._close_inline()
                return None

    def _close_inline(self) -> None:
        # Under the lock.
        db, self._inline, self._inline_owner = self._inline, None, None
        if db is not None:
            db.close()
