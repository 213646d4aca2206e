"""StorageGauge: the quota's estimate, refreshed from the database without a thundering herd."""

from __future__ import annotations

import asyncio

from ots.domain import StoredTotals
from ots.quota import ROW_BYTES, StorageGauge, Usage


class SlowCount:
    """A database count that takes a while and says how often it was asked."""

    def __init__(self) -> None:
        """Not asked yet."""
        self.calls = 0

    async def __call__(self, now: int) -> StoredTotals:
        """Two live secrets of 100 bytes each, three receipts."""
        del now
        self.calls += 1
        await asyncio.sleep(0.05)
        return StoredTotals(live_secrets=2, ciphertext_bytes=200, receipts=3)


def test_concurrent_creates_share_one_count() -> None:
    """Fifty creates arriving while the count runs do not start fifty scans."""
    count = SlowCount()

    async def main() -> list[Usage]:
        gauge = StorageGauge(count)
        return list(await asyncio.gather(*(gauge.current(1000) for _ in range(50))))

    usages = asyncio.run(main())
    assert count.calls == 1
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
