"""Eraser: one batched erase pass soon after secrets end, retried until it completes.

The timer is a fake (``Timers``): a test fires it when it chooses, and waits
for the pass itself, never for a duration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ots.erasure import Eraser
from ots.errors import UnavailableError
from tests.support import until


@dataclass
class Armed:
    """One armed timer: its delay and callback, until fired or cancelled."""

    delay: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        """Keep the callback from running."""
        self.cancelled = True


class Timers:
    """A fake ``call_later``: callbacks wait until the test fires them."""

    def __init__(self) -> None:
        """Nothing armed."""
        self.armed: list[Armed] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Armed:
        """Arm a timer."""
        self.armed.append(Armed(delay, callback))
        return self.armed[-1]

    def waiting(self) -> list[Armed]:
        """The timers armed and neither fired nor cancelled."""
        return [timer for timer in self.armed if not timer.cancelled]

    def fire(self) -> None:
        """Run every timer waiting, as if its delay had passed."""
        due, self.armed = self.waiting(), []
        for timer in due:
            timer.callback()


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

    async def reached(self, count: int) -> None:
        """Wait until ``count`` passes have run (and what each one armed is armed)."""
        await until(lambda: self.calls >= count, f"{count} erase passes")


def test_many_ends_make_one_pass() -> None:
    """Ends noted close together arm one timer and are erased by a single pass."""
    passes, timers = Passes(), Timers()

    async def main() -> None:
        eraser = Eraser(passes, 1.0, later=timers)
        for _ in range(50):
            eraser.note_ended()
        assert [timer.delay for timer in timers.waiting()] == [1.0]
        timers.fire()
        await passes.reached(1)
        assert timers.waiting() == [], "a complete pass arms nothing"
        eraser.note_ended()
        timers.fire()
        await passes.reached(2)

    asyncio.run(main())
    assert passes.calls == 2


def test_an_incomplete_or_failed_pass_is_retried() -> None:
    """A busy checkpoint or a database outage does not leave bytes behind: it runs again."""
    passes, timers = Passes(False, UnavailableError()), Timers()

    async def main() -> None:
        eraser = Eraser(passes, 1.0, later=timers)
        eraser.note_ended()
        for count in (1, 2, 3):
            assert len(timers.waiting()) == 1, "each unfinished pass arms the next"
            timers.fire()
            await passes.reached(count)
        assert timers.waiting() == []

    asyncio.run(main())
    assert passes.calls == 3


def test_close_runs_a_due_pass_at_once() -> None:
    """Stopping right after a reveal still erases it, without waiting for the timer."""
    passes, timers = Passes(), Timers()

    async def main() -> None:
        eraser = Eraser(passes, delay=3600, later=timers)
        eraser.note_ended()
        await eraser.close()
        assert timers.waiting() == [], "the timer is cancelled"

    asyncio.run(main())
    assert passes.calls == 1


def test_close_finishes_a_running_pass_and_its_retry() -> None:
    """A pass under way when the server stops is awaited, and its retry run now."""
    passes, timers = Passes(False), Timers()

    async def main() -> None:
        eraser = Eraser(passes, 1.0, later=timers)
        eraser.note_ended()
        timers.fire()  # the first pass starts (and will fail)
        await eraser.close()

    asyncio.run(main())
    assert passes.calls == 2


def test_close_with_nothing_due_erases_nothing() -> None:
    """No end, no pass: stopping an idle server touches nothing."""
    passes = Passes()
    asyncio.run(Eraser(passes, 1.0, later=Timers()).close())
    assert passes.calls == 0


def test_the_default_timer_is_the_loops() -> None:
    """Without a fake, the pass runs on the running loop's own timer."""
    passes = Passes()

    async def main() -> None:
        eraser = Eraser(passes, 0.0)
        eraser.note_ended()
        await passes.reached(1)

    asyncio.run(main())
    assert passes.calls == 1
