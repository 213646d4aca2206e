"""The sweeper loop."""

from __future__ import annotations

import asyncio

from ots.errors import UnavailableError
from ots.tasks import sweep_forever


def test_sweeper_keeps_going_through_database_errors() -> None:
    """A failing sweep is logged and retried on the next tick; the loop never dies."""
    calls: list[int] = []

    async def sweep_once() -> int:
        calls.append(1)
        if len(calls) % 2:
            raise UnavailableError
        return 3

    async def main() -> None:
        task = asyncio.create_task(sweep_forever(sweep_once, interval=0.001))
        while len(calls) < 6:
            await asyncio.sleep(0.001)
        task.cancel()

    asyncio.run(main())
    assert len(calls) >= 6
