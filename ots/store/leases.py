"""PostgreSQL connections kept out of the pool for statements that stand alone.

A statement through asyncpg's pool pays for an acquire and a release: a
queue, a timeout context, a shielded release task, the inactive-connection
timer. That is about 85 µs of a worker's CPU, as much as the statement
itself. Most of the store's calls are one statement in autocommit, so they
need no pool ceremony: ``Leases`` takes a few connections from the pool once
and keeps them; a statement takes an idle one (a list pop, no await), runs,
and puts it back. When all are busy, or before the pool exists, the
statement goes through Tortoise as before. Transactions always use the pool.

A connection goes back to the pool, never to the idle list, after any error
(it may be dead, or still cancelling a timed-out statement: the pool's
release knows how to wait for that or close it), and when the leases were
dropped while it ran (``drop``, after the database was lost). A lease that
the server closed while it sat idle is retired unused, and so is one idle
for ``IDLE_LIFETIME``: the pool would have closed it too, and a connection
idle that long may have been cut by a firewall without a word.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

# Pool connections never leased: transactions, and statements that find no idle lease.
RESERVED = 2
# Seconds a lease may sit idle before it is closed rather than lent (asyncpg's
# pool closes its own after 300; NAT and firewalls often forget sooner).
IDLE_LIFETIME = 60.0


class Leases:
    """Connections taken once from an asyncpg pool, each lent to one statement at a time."""

    def __init__(self, client: BaseDBAsyncClient) -> None:
        """Lend connections of ``client``'s pool; all but ``RESERVED`` of them at most."""
        self._client = client
        # The pool always keeps RESERVED connections for transactions, which never
        # use a lease; a pool of RESERVED or fewer lends nothing.
        self._most = max(0, int(getattr(client, "pool_maxsize", 0)) - RESERVED)
        self._pool: Any = None
        # (connection, when it went idle), the most recently used last.
        self._idle: list[tuple[Any, float]] = []
        self._held = 0
        # Bumped by drop(): a connection lent before it goes back to the pool.
        self._generation = 0
        self._closed = False

    @property
    def held(self) -> int:
        """How many connections are out of the pool now, idle or running a statement."""
        return self._held

    async def rows(self, query: str, values: Sequence[object]) -> list[dict[str, Any]]:
        """Run one statement and return its rows as dicts (those of UPDATE and DELETE too)."""
        # Read before any await: a drop() while a lease is being taken voids it too.
        generation = self._generation
        conn = self._take_idle()
        if conn is None:
            conn = await self._lease()
        if conn is None:
            return await self._client.execute_query_dict(query, list(values))
        try:
            records = await conn.fetch(query, *values)
        except BaseException:
            await self._give_back(conn)
            raise
        if generation == self._generation and not self._closed:
            now = time.monotonic()
            self._idle.append((conn, now))
            # The least recently used lease: retired once it idled too long.
            if now - self._idle[0][1] > IDLE_LIFETIME:
                self._retire(self._idle.pop(0)[0])
        else:
            await self._give_back(conn)
        return [dict(record) for record in records]

    def _take_idle(self) -> Any | None:
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if _open(conn) and now - since <= IDLE_LIFETIME:
                return conn
            self._retire(conn)
        return None

    def _retire(self, conn: Any) -> None:
        # Closing it frees its place in the pool, which connects anew when asked.
        self._held -= 1
        if _open(conn):
            conn.terminate()

    async def _lease(self) -> Any | None:
        pool = getattr(self._client, "_pool", None)
        if pool is None or self._closed or self._held >= self._most:
            return None
        # Tortoise opened a new pool after closing the one these leases came from:
        # lend nothing from it (the store is being closed, or was closed).
        if self._pool is not None and pool is not self._pool:
            return None
        self._pool = pool
        self._held += 1
        try:
            return await pool.acquire()
        except BaseException:
            self._held -= 1
            raise

    async def _give_back(self, conn: Any) -> None:
        self._held -= 1
        # The pool closes a connection it cannot reset; a failure here must not
        # hide the error that sent the connection back.
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    async def drop(self) -> None:
        """Give every connection back to the pool: idle ones now, busy ones when they finish."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await self._give_back(conn)

    async def close(self) -> None:
        """Give everything back and lend nothing more: the pool can close."""
        self._closed = True
        await self.drop()


def _open(conn: Any) -> bool:
    # A proxy the pool took back (the server closed its connection) holds none.
    return getattr(conn, "_con", None) is not None
