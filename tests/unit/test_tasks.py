"""The sweeper loop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ots.domain import Swept
from ots.errors import UnavailableError
from ots.tasks import sweep_forever
from tests.support import until


def test_sweeper_keeps_going_through_any_failure(caplog: pytest.LogCaptureFixture) -> None:
    """A failing sweep, expected or a bug, is logged and retried; only cancelling ends it."""
    caplog.set_level(logging.INFO, logger="ots.sweeper")
    calls: list[int] = []
    failures = [UnavailableError(), RuntimeError("bug")]

    async def sweep_once() -> Swept:
        calls.append(1)
        if len(calls) % 2:
            raise failures[len(calls) // 2 % 2]
        return Swept(secrets=3, receipts=1)

    async def main() -> None:
        task = asyncio.create_task(sweep_forever(sweep_once, interval=0.001))
        # A loop that ended would never get there: the wait fails instead of hanging.
        await until(lambda: len(calls) >= 6 or task.done(), "six sweeps")
        assert not task.done(), "the sweeper loop ended"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.done() and not task.cancelled()  # it ended quietly

    asyncio.run(main())
    assert "swept 3 expired secrets and 1 receipts past retention" in caplog.text
    assert "sweep skipped" in caplog.text
    assert "sweep failed" in caplog.text
