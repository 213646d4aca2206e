"""The background sweeper that a long-running server registers with ``app.add_task``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ots.domain import Swept
from ots.errors import OtsError

log = logging.getLogger("ots.sweeper")


async def sweep_forever(sweep_once: Callable[[], Awaitable[Swept]], interval: float) -> None:
    """Call ``sweep_once`` every ``interval`` seconds until cancelled.

    A failed sweep is logged and retried on the next tick, whatever it
    raised: only cancelling ends the loop. Each worker runs its own loop: the deletes
    are idempotent, so overlapping sweeps only share the work. Cancelling the
    task ends it.
    """
    try:
        while True:
            try:
                swept = await sweep_once()
                if swept.total:
                    log.info(
                        "swept %d expired secrets and %d receipts past retention",
                        swept.secrets,
                        swept.receipts,
                    )
            except OtsError as exc:
                # Expected (database away): one line, no traceback.
                log.warning("sweep skipped: %s", exc.message)
            except Exception:
                # A bug: say it loudly, but keep sweeping.
                log.exception("sweep failed")
            await asyncio.sleep(interval)
    except asyncio.CancelledError:
        # Cancelled is how a stop ends this task: end quietly, so that no
        # "task was cancelled" warning reaches the log of a normal stop.
        return
