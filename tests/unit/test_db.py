"""Waiting for the database at start: OTS_DB_WAIT is kept to the second, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from ots import db
from tests.support import FakeClock

# Nothing listens on port 1: every connection is refused at once.
NOWHERE = {"host": "127.0.0.1", "port": 1, "user": "u", "password": "", "database": "d"}


@pytest.mark.parametrize("wait", [0.0, 1.0, 7.5])
def test_connecting_tries_until_the_wait_has_passed(wait: float) -> None:
    """Retries back off from 0.2 s, and the last try is at OTS_DB_WAIT itself, not before."""
    clock = FakeClock(now=0.0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    async def main() -> None:
        with pytest.raises(ConnectionError, match="database unreachable"):
            await db._connect_with_wait(NOWHERE, wait, clock=clock, sleep=sleep)

    asyncio.run(main())
    # A try follows every sleep, and none is left once the time is up.
    assert sum(slept) == pytest.approx(wait)
    assert slept[:2] == ([0.2, 0.4] if wait else [])
