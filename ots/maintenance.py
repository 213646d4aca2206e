"""The chores beside the requests: sweeping, erasing what ended, the quota's estimate, readiness.

One ``Maintenance`` per worker. ``ots.tasks`` drives its sweep (the resident
sweeper of ``ots serve``, and of an ASGI process that lives on); the service
tells it what each request committed, so that it can count and erase.

- Sweeping deletes expired secrets, then receipts past retention, in bounded
  batches that rest between them, so a million expired rows never stall the
  worker. Where no resident task can be relied on (ASGI, serverless),
  ``Sweeping.on_create`` also lets a create run one batch of each kind, at
  most once per interval; under ``ots serve`` a create never sweeps.
- Erasure: every end of a secret arms one erase pass soon after
  (``ots.erasure.Eraser``).
- The quota's usage estimate (``ots.quota.StorageGauge``): adjusted by this
  worker's creates and ends, refreshed from the database now and then (and
  by every sweep, so it stays fresh on a server nobody writes to).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

from ots.domain import EVENTS, STATE_AFTER, State, StoredTotals, Swept, Transition
from ots.erasure import DELAY, Eraser
from ots.errors import UnavailableError
from ots.events import EventLog
from ots.quota import StorageGauge, Usage

log = logging.getLogger("ots.maintenance")
Clock = Callable[[], float]
# A sweep rests this many times as long as each batch took before the next one.
SWEEP_REST: Final = 3.0


class MaintainedStore(Protocol):
    """What the chores need from storage; ``ots.store.TortoiseStore`` is the real one."""

    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """Delete at most ``batch`` expired secrets: the ``expired`` of those this call removed."""

    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """Delete at most ``batch`` expired requests: how many, and the unanswered ones' event."""

    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts past retention; return how many went."""

    async def totals(self, now: int) -> StoredTotals:
        """Return what is stored, for the quota."""

    async def erase_ended(self) -> bool:
        """Make removed secrets physically unrecoverable; True when the pass completed."""

    async def ping(self) -> None:
        """Raise ``UnavailableError`` unless the storage answers."""


@dataclass(frozen=True)
class Sweeping:
    """How this worker sweeps: rows per statement, seconds between sweeps, and who sweeps."""

    batch: int
    interval: float
    # Also a batch riding on a create (no resident sweeper can be relied on: ASGI).
    on_create: bool = False


class Maintenance:
    """A worker's chores: its sweeps, its erase passes, its usage estimate."""

    def __init__(
        self,
        store: MaintainedStore,
        events: EventLog,
        sweeping: Sweeping,
        *,
        clock: Clock = time.time,
        erase_delay: float = DELAY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Clock = time.perf_counter,
    ) -> None:
        """Keep ``store`` tidy as ``sweeping`` says, reporting what a sweep ends to ``events``.

        ``sleep`` and ``timer`` pace the rests between batches (tests inject both).
        """
        self._store = store
        self._events = events
        self._sweeping = sweeping
        self._clock = clock
        self._sleep = sleep
        self._timer = timer
        self._gauge = StorageGauge(store.totals)
        self._eraser = Eraser(store.erase_ended, erase_delay)
        self._last_sweep: int | None = None

    def _now(self) -> int:
        return int(self._clock())

    async def usage(self) -> Usage:
        """Return the estimated usage (asking the database when the estimate is due)."""
        return await self._gauge.current(self._now())

    def stored(self, ciphertext_bytes: int, *, secrets: int = 1) -> None:
        """Count a secret of ``ciphertext_bytes`` (and its receipt) this worker just stored.

        ``secrets`` 0 for a request's answer: its request already counted as live.
        """
        self._gauge.added(ciphertext_bytes, secrets=secrets)

    def committed(self, transition: Transition) -> None:
        """Note what a write committed: secrets that left the table are counted and erased."""
        if not transition.lookups or not EVENTS[transition.event].ends:
            return
        self._eraser.note_ended()
        # An expired secret was out of the live count already: totals count by the clock.
        if STATE_AFTER[transition.event] is not State.EXPIRED:
            for _ in transition.lookups:
                self._gauge.ended()

    async def sweep(self, batches: int | None = None) -> Swept:
        """Delete expired secrets, then receipts past retention, in bounded batches.

        Batches keep each statement short, and the pause between them lets
        requests run, so a million expired rows never stall the service.
        ``batches`` caps the batches of each kind (None: until none is left).
        """
        counts = [
            await self._in_batches(self._delete_expired, batches),
            await self._in_batches(self._store.delete_purged_receipts, batches),
            await self._in_batches(self._delete_expired_requests, batches),
        ]
        # Keeps the usage estimate (and its metrics) fresh on a server nobody writes to.
        await self._gauge.current(self._now())
        return Swept(secrets=counts[0], receipts=counts[1], requests=counts[2])

    async def after_create(self) -> None:
        """Sweep one bounded batch of each kind if this worker sweeps on creates and it is due.

        For processes without a resident sweeper (ASGI, serverless): at most
        once per interval per process. A failure here must not fail the
        create that already succeeded.
        """
        if not self._sweeping.on_create:
            return
        now = self._now()
        if self._last_sweep is not None and now - self._last_sweep < self._sweeping.interval:
            return
        self._last_sweep = now
        try:
            # In a context of its own: the secrets a sweep ends are nobody's request, so
            # their audit lines must not carry this request's client or token.
            await asyncio.create_task(self.sweep(batches=1), context=contextvars.Context())
        except UnavailableError:
            log.warning("opportunistic sweep skipped: database unavailable")

    async def database_ready(self) -> bool:
        """Tell whether the database answers a trivial query."""
        try:
            await self._store.ping()
        except UnavailableError:
            return False
        return True

    async def close(self) -> None:
        """Finish what must not wait for a later moment: erasing secrets that ended."""
        await self._eraser.close()

    async def _in_batches(
        self, delete: Callable[[int, int], Awaitable[int]], batches: int | None
    ) -> int:
        batch = self._sweeping.batch
        removed = 0
        for done in itertools.count(1):
            started = self._timer()
            count = await delete(self._now(), batch)
            removed += count
            if count < batch or done == batches:
                break
            # Rest SWEEP_REST times as long as the batch took: however much is due
            # (a million expired at once), the sweep holds this worker and the
            # database's write lock only part of the time, and requests go first.
            await self._sleep(SWEEP_REST * (self._timer() - started))
        return removed

    async def _delete_expired_requests(self, now: int, batch: int) -> int:
        count, expired = await self._store.delete_expired_requests(now, batch)
        self._events.record(expired)
        self.committed(expired)
        return count

    async def _delete_expired(self, now: int, batch: int) -> int:
        expired = await self._store.delete_expired_secrets(now, batch)
        self._events.record(expired)
        self.committed(expired)
        return len(expired.lookups)
