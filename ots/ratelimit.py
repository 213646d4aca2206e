"""Per-client rate limiting on the `limits` library, failing open when its storage is down.

``memory://`` counts per process; ``redis://`` makes one shared count for
every worker and replica. If Redis cannot be reached the service keeps
serving (a dead limiter must not take the whole service down with it),
logs one warning per outage and reports itself degraded until Redis answers
again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("ots.ratelimit")

# A limiter that cannot answer this fast is treated as down: it must never
# become the slowest part of a request.
STORAGE_TIMEOUT: Final = 0.5


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against the limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int


class ClientRateLimiter:
    """Counts requests per client address in a moving window."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        """Build the limiter for ``rate`` (e.g. ``600/minute``) on ``storage_uri``."""
        scheme, _, rest = storage_uri.partition("://")
        self._item: RateLimitItem = parse(rate)
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(f"async+{scheme.removeprefix('async+')}://{rest}")
        )
        self.degraded = False

    async def hit(self, client: str) -> Verdict | None:
        """Count one request from ``client``; None when the storage is unreachable."""
        try:
            allowed = await asyncio.wait_for(self._limiter.hit(self._item, client), STORAGE_TIMEOUT)
            stats = await asyncio.wait_for(
                self._limiter.get_window_stats(self._item, client), STORAGE_TIMEOUT
            )
        except Exception as exc:
            if not self.degraded:
                log.warning(
                    "rate limiter storage unreachable (%s); serving without limits",
                    type(exc).__name__,
                )
                self.degraded = True
            return None
        if self.degraded:
            log.warning("rate limiter storage reachable again; limits apply")
            self.degraded = False
        return Verdict(
            allowed=allowed,
            limit=self._item.amount,
            remaining=max(0, stats.remaining),
            reset_at=int(stats.reset_time) + 1,
        )
