"""StorageGauge: the quota's estimate, refreshed from the database without a thundering herd."""

from __future__ import annotations

import asyncio

from ots.domain import StoredTotals
from ots.quota import ROW_BYTES, StorageGauge, Usage
from tests.support import until


class SlowCount:
    """A database count that answers only once the test releases it; it counts its calls."""

    def __init__(self, *, released: bool = True) -> None:
        """Not asked yet; held until ``release`` unless ``released``."""
        self.calls = 0
        self.released = asyncio.Event()
        if released:
            self.released.set()

    async def __call__(self, now: int) -> StoredTotals:
        """Two live secrets of 100 bytes each, three receipts."""
        del now
        self.calls += 1
        await self.released.wait()
        return StoredTotals(live_secrets=2, ciphertext_bytes=200, receipts=3)


def test_concurrent_creates_share_one_count() -> None:
    """Fifty creates arriving while the count runs do not start fifty scans."""

    async def main() -> list[Usage]:
        count = SlowCount(released=False)
        gauge = StorageGauge(count)
        creates = asyncio.gather(*(gauge.current(1000) for _ in range(50)))
        # The first create's count is under way, and held there: the others arrive meanwhile.
        await until(lambda: count.calls == 1, "the first count under way")
        count.released.set()
        usages = list(await creates)
        assert count.calls == 1
        return usages

    usages = asyncio.run(main())
    assert usages[0] == Usage(2, 200 + ROW_BYTES * 5)


def test_refreshes_when_due_and_adjusts_in_between() -> None:
    """Own creates and ends adjust the estimate; the database is asked again when due."""
    count = SlowCount()

    async def main() -> tuple[Usage, Usage, int]:
        gauge = StorageGauge(count)
        await gauge.current(1000)
        gauge.added(1000)
        gauge.ended()
        between = await gauge.current(1001)
        refreshed = await gauge.current(1000 + StorageGauge.REFRESH_SECONDS)
        return between, refreshed, count.calls

    between, refreshed, calls = asyncio.run(main())
    assert between == Usage(2, 200 + ROW_BYTES * 5 + 1000 + 2 * ROW_BYTES)
    assert refreshed == Usage(2, 200 + ROW_BYTES * 5)
    assert calls == 2
