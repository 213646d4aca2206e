"""Eraser: one batched erase pass soon after secrets end, retried until it completes."""

from __future__ import annotations

import asyncio

from ots.erasure import Eraser
from ots.errors import UnavailableError

DELAY = 0.01


class Passes:
    """A fake erase pass that follows a script of outcomes (True, False or an error)."""

    def __init__(self, *outcomes: bool | Exception) -> None:
        """Answer with ``outcomes`` in turn, then True."""
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> bool:
        """Run one pass."""
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else True
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_many_ends_make_one_pass() -> None:
    """Ends noted close together are erased by a single pass."""
    passes = Passes()

    async def main() -> None:
        eraser = Eraser(passes, DELAY)
        for _ in range(50):
            eraser.note_ended()
        await asyncio.sleep(DELAY * 5)
        assert passes.calls == 1
        eraser.note_ended()
        await asyncio.sleep(DELAY * 5)
        assert passes.calls == 2

    asyncio.run(main())


def test_an_incomplete_or_failed_pass_is_retried() -> None:
    """A busy checkpoint or a database outage does not leave bytes behind: it runs again."""
    passes = Passes(False, UnavailableError())

    async def main() -> None:
        eraser = Eraser(passes, DELAY)
        eraser.note_ended()
        await asyncio.sleep(DELAY * 10)

    asyncio.run(main())
    assert passes.calls == 3


def test_close_runs_a_due_pass_at_once() -> None:
    """Stopping right after a reveal still erases it, without waiting for the timer."""
    passes = Passes()

    async def main() -> None:
        eraser = Eraser(passes, delay=3600)
        eraser.note_ended()
        await eraser.close()

    asyncio.run(main())
    assert passes.calls == 1


def test_close_finishes_a_running_pass_and_its_retry() -> None:
    """A pass under way when the server stops is awaited, and its retry run now."""
    passes = Passes(False)

    async def main() -> None:
        eraser = Eraser(passes, DELAY)
        eraser.note_ended()
        await asyncio.sleep(DELAY * 1.5)  # the first pass has started (and failed)
        await eraser.close()

    asyncio.run(main())
    assert passes.calls == 2


def test_close_with_nothing_due_erases_nothing() -> None:
    """No end, no pass: stopping an idle server touches nothing."""
    passes = Passes()
    asyncio.run(Eraser(passes, DELAY).close())
    assert passes.calls == 0
