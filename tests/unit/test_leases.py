"""Leases: which statements take a leased connection, and when one goes back to the pool.

A fake pool and client stand in for asyncpg's and Tortoise's; the same rules
run on the real PostgreSQL in tests/integration/test_store.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from ots.store import leases as leases_module
from ots.store.leases import IDLE_LIFETIME, RESERVED, Leases


class FakeConnection:
    """Answers each statement with one row naming itself, or raises what it is told to."""

    def __init__(self, number: int) -> None:
        """Connection ``number``, healthy."""
        self.number = number
        self.fails: BaseException | None = None
        # asyncpg's proxy: its connection, None once the server closed it.
        self._con: FakeConnection | None = self

    def terminate(self) -> None:
        """Close it: the pool's place is free again."""
        self._con = None

    async def fetch(self, query: str, *values: object) -> list[dict[str, Any]]:
        """One row: this connection's number, the statement and its values."""
        await asyncio.sleep(0)
        if self.fails is not None:
            raise self.fails
        return [{"conn": self.number, "query": query, "values": values}]


class FakePool:
    """Hands out numbered connections and records what comes back."""

    def __init__(self) -> None:
        """An empty pool that opens connections on demand."""
        self.opened: list[FakeConnection] = []
        self.released: list[FakeConnection] = []

    async def acquire(self) -> FakeConnection:
        """A new connection, after a turn of the loop (as connecting takes)."""
        await asyncio.sleep(0)
        self.opened.append(FakeConnection(len(self.opened)))
        return self.opened[-1]

    async def release(self, conn: FakeConnection) -> None:
        """Take ``conn`` back."""
        self.released.append(conn)


class FakeClient:
    """Tortoise's client: a pool of ``pool_maxsize``, and the statements run through it."""

    def __init__(self, pool_maxsize: int, pool: FakePool | None) -> None:
        """A client whose pool is ``pool`` (None: not opened yet)."""
        self.pool_maxsize = pool_maxsize
        self._pool = pool
        self.through_pool: list[str] = []

    async def execute_query_dict(
        self, query: str, values: Sequence[object]
    ) -> list[dict[str, Any]]:
        """The pooled path: recorded, answered with no connection number."""
        self.through_pool.append(query)
        return [{"conn": None}]


def leases(maxsize: int = 10, pool: FakePool | None = None) -> tuple[Leases, FakeClient]:
    """Leases over a fake client whose pool has ``maxsize`` connections."""
    client = FakeClient(maxsize, pool)
    return Leases(client), client  # type: ignore[arg-type]


def test_one_statement_after_another_reuses_one_connection() -> None:
    """The first statement leases; the next ones take the same connection, no pool call."""
    pool = FakePool()
    lent, client = leases(pool=pool)

    async def main() -> list[Any]:
        return [(await lent.rows("SELECT %s", (n,)))[0]["conn"] for n in range(5)]

    assert asyncio.run(main()) == [0, 0, 0, 0, 0]
    assert len(pool.opened) == 1
    assert client.through_pool == []


def test_racing_statements_lease_up_to_all_but_the_reserve_then_use_the_pool() -> None:
    """Twelve at once on a pool of 10: 8 leased connections, 4 statements through the pool."""
    pool = FakePool()
    lent, client = leases(maxsize=10, pool=pool)

    async def main() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(lent.rows("SELECT 1", ()) for _ in range(12)))

    answers = asyncio.run(main())
    assert sorted(a[0]["conn"] for a in answers if a[0]["conn"] is not None) == list(range(8))
    assert len(client.through_pool) == 4
    assert lent.held == 10 - RESERVED


@pytest.mark.parametrize("maxsize", [1, RESERVED])
def test_a_pool_of_the_reserve_or_less_lends_nothing(maxsize: int) -> None:
    """Every statement goes through the pool: a transaction never waits on an idle lease."""
    pool = FakePool()
    lent, client = leases(maxsize=maxsize, pool=pool)
    asyncio.run(lent.rows("SELECT 1", ()))
    assert pool.opened == []
    assert client.through_pool == ["SELECT 1"]


def test_before_the_pool_exists_statements_go_through_tortoise() -> None:
    """Tortoise opens its pool on first use; until then nothing is leased."""
    lent, client = leases(pool=None)
    assert asyncio.run(lent.rows("SELECT 1", ())) == [{"conn": None}]
    assert client.through_pool == ["SELECT 1"] and lent.held == 0


@pytest.mark.parametrize("error", [ConnectionResetError("gone"), asyncio.CancelledError()])
def test_a_connection_whose_statement_failed_goes_back_to_the_pool(error: BaseException) -> None:
    """After an error (or a cancellation) the connection is the pool's again, never lent again."""
    pool = FakePool()
    lent, _ = leases(pool=pool)

    async def main() -> Any:
        await lent.rows("SELECT 1", ())
        pool.opened[0].fails = error
        with pytest.raises(type(error)):
            await lent.rows("SELECT 1", ())
        return (await lent.rows("SELECT 1", ()))[0]["conn"]

    assert asyncio.run(main()) == 1
    assert pool.released == [pool.opened[0]]
    assert lent.held == 1


def test_dropped_and_closed_leases_go_back_idle_now_busy_when_done() -> None:
    """drop() returns the idle lease at once and the busy one when its statement ends."""
    pool = FakePool()
    lent, client = leases(pool=pool)

    async def main() -> None:
        await asyncio.gather(lent.rows("SELECT 1", ()), lent.rows("SELECT 2", ()))
        busy = asyncio.create_task(lent.rows("SELECT 3", ()))
        await asyncio.sleep(0)  # it took an idle lease and runs
        await lent.drop()
        assert pool.released == [pool.opened[0]]
        await busy
        assert sorted(c.number for c in pool.released) == [0, 1]
        await lent.rows("SELECT 4", ())  # a new lease after a drop
        await lent.close()
        await lent.rows("SELECT 5", ())  # after close: through the pool

    asyncio.run(main())
    assert len(pool.opened) == 3
    assert len(pool.released) == 3
    assert lent.held == 0
    assert client.through_pool == ["SELECT 5"]


def test_a_new_pool_under_tortoise_gets_no_leases() -> None:
    """Tortoise reopened its pool: connections of the old one are not mixed with the new."""
    pool = FakePool()
    lent, client = leases(pool=pool)

    async def main() -> None:
        await lent.rows("SELECT 1", ())
        await lent.drop()
        client._pool = FakePool()
        await lent.rows("SELECT 2", ())

    asyncio.run(main())
    assert client.through_pool == ["SELECT 2"]
    assert pool.released == pool.opened


def test_a_lease_the_server_closed_while_idle_is_retired_unused() -> None:
    """The next statement leases a new connection instead of failing on the closed one."""
    pool = FakePool()
    lent, _ = leases(pool=pool)

    async def main() -> Any:
        await lent.rows("SELECT 1", ())
        pool.opened[0]._con = None  # what asyncpg does when the server ends it
        return (await lent.rows("SELECT 2", ()))[0]["conn"]

    assert asyncio.run(main()) == 1
    assert lent.held == 1


def test_leases_idle_too_long_are_closed_not_lent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stale leases are closed when a statement looks for one, or when they are the oldest."""
    pool = FakePool()
    lent, _ = leases(pool=pool)
    clock = [1000.0]
    monkeypatch.setattr(leases_module.time, "monotonic", lambda: clock[0])

    def closed() -> list[int]:
        return [c.number for c in pool.opened if c._con is None]

    async def main() -> list[Any]:
        await asyncio.gather(*(lent.rows("SELECT 1", ()) for _ in range(3)))  # leases 0-2
        clock[0] += IDLE_LIFETIME + 1
        stale = [(await lent.rows("SELECT 2", ()))[0]["conn"], closed(), lent.held]
        await asyncio.gather(*(lent.rows("SELECT 3", ()) for _ in range(2)))  # 3 and 4
        clock[0] += IDLE_LIFETIME / 2
        await lent.rows("SELECT 4", ())  # takes 4: fresh enough
        clock[0] += IDLE_LIFETIME / 2 + 1
        await lent.rows("SELECT 5", ())  # takes 4 again; 3, the oldest, is now stale
        return [*stale, closed(), lent.held]

    first, all_stale, held, then_closed, held_after = asyncio.run(main())
    assert (first, all_stale, held) == (3, [0, 1, 2], 1)
    assert (then_closed, held_after) == ([0, 1, 2, 3], 1)


def test_a_lease_taken_while_the_leases_are_dropped_goes_back_after_its_statement() -> None:
    """A drop() (the database was lost) while a lease is being taken voids that lease too."""
    pool = FakePool()
    lent, _ = leases(pool=pool)

    async def main() -> None:
        statement = asyncio.create_task(lent.rows("SELECT 1", ()))
        await asyncio.sleep(0)  # it waits in the pool's acquire
        await lent.drop()
        await statement

    asyncio.run(main())
    assert pool.released == pool.opened
    assert lent.held == 0
