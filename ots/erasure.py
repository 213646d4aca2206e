"""Physical erasure of ended secrets, batched so reads and creates stay fast.

Deleting a row is not enough: SQLite keeps the deleted bytes in its WAL
until a checkpoint rewrites the pages and truncates the log. A checkpoint per
request would cost an fsync each; instead every end of a secret arms one
timer, and one erase pass runs ``DELAY`` seconds later for everything that
ended meanwhile. A pass that could not finish (another process mid-write, the
database away) is retried ``DELAY`` seconds later, so an ended secret's bytes
are gone within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from ots.errors import UnavailableError

log = logging.getLogger("ots.erasure")

# One pass a second at most: cheap under load, far inside the 10 s promise.
DELAY: Final = 1.0
CLOSE_TIMEOUT: Final = 2.0


class Timer(Protocol):
    """What ``call_later`` returns: a timer that can be cancelled."""

    def cancel(self) -> None:
        """Keep the callback from running."""


# Runs a callback after a delay: the running loop's call_later, or a test's fake timers.
Later = Callable[[float, Callable[[], None]], Timer]


class Eraser:
    """Runs ``erase`` (one pass; True when complete) soon after secrets end."""

    def __init__(
        self,
        erase: Callable[[], Awaitable[bool]],
        delay: float = DELAY,
        *,
        later: Later | None = None,
    ) -> None:
        """Erase with ``erase``, ``delay`` seconds after the first end noted.

        ``later`` arms the timer (default: the running loop's ``call_later``).
        """
        self._erase = erase
        self._delay = delay
        self._later = later
        self._timer: Timer | None = None
        self._running: asyncio.Task[None] | None = None

    def note_ended(self) -> None:
        """Record that a secret ended: an erase pass will run within ``delay`` seconds."""
        if self._timer is None:
            later = self._later or asyncio.get_running_loop().call_later
            self._timer = later(self._delay, self._start)

    def _start(self) -> None:
        # Ends noted from here on arm a new timer: this pass may miss them.
        self._timer = None
        self._running = asyncio.ensure_future(self._pass())

    async def _pass(self) -> None:
        try:
            complete = await self._erase()
        except UnavailableError:
            complete = False
        if not complete:
            log.info("erase pass incomplete; retrying")
            self.note_ended()

    async def close(self) -> None:
        """Run the pass that is due now instead of later, so a stop leaves nothing behind."""
        due = self._cancel_timer()
        if self._running is not None and not self._running.done():
            await self._running
            # A pass that failed re-armed the timer: run it now too.
            due = self._cancel_timer() or due
        if due:
            # Bounded: a stop must not hang on a database that does not answer.
            with contextlib.suppress(UnavailableError, TimeoutError):
                await asyncio.wait_for(self._erase(), CLOSE_TIMEOUT)

    def _cancel_timer(self) -> bool:
        # Returns whether a pass was due.
        if self._timer is None:
            return False
        self._timer.cancel()
        self._timer = None
        return True
