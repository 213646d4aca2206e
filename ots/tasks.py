"""The background sweeper that a long-running server registers with ``app.add_task``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ots.errors import OtsError

log = logging.getLogger("ots.sweeper")


async def sweep_forever(sweep_once: Callable[[], Awaitable[int]], interval: float) -> None:
    """Call ``sweep_once`` every ``interval`` seconds until cancelled.

    A failed sweep (database away) is logged and retried on the next tick;
    it must never end the loop. Each worker runs its own loop: the deletes
    are idempotent, so overlapping sweeps only share the work. Cancelling the
    task ends it.
    """
    try:
        while True:
            try:
                removed = await sweep_once()
                if removed:
                    log.info("swept %d expired secrets", removed)
            except OtsError as exc:
                log.warning("sweep skipped: %s", exc.message)
            await asyncio.sleep(interval)
    except asyncio.CancelledError:
        # Cancelled is how a stop ends this task: end quietly, so that no
        # "task was cancelled" warning reaches the log of a normal stop.
        return
