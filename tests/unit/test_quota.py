"""The quota: StorageGauge's estimate, refreshed without a thundering herd; ClientShares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ots.domain import ClientTotals, StoredTotals
from ots.quota import ROW_BYTES, ClientShares, StorageGauge, Usage
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
    assert usages[0] == Usage(2, 200 + ROW_BYTES * 5, 200)


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
    assert between == Usage(2, 200 + ROW_BYTES * 5 + 1000 + 2 * ROW_BYTES, 1200)
    assert refreshed == Usage(2, 200 + ROW_BYTES * 5, 200)
    assert calls == 2


class ClientCount:
    """A client's count in the database: 3 secrets of 300 bytes in all; it counts its calls."""

    def __init__(self) -> None:
        """Not asked yet."""
        self.calls = 0

    async def __call__(self, tags: Sequence[str], now: int) -> ClientTotals:
        """What the client stored under ``tags``."""
        del tags, now
        self.calls += 1
        return ClientTotals(3, 300)


def within(live: int, size: int) -> Callable[[ClientTotals], bool]:
    """A share of ``live`` secrets and ``size`` bytes, for a create of 10 bytes."""
    return lambda held: held.live_secrets < live and held.ciphertext_bytes + 10 <= size


def test_a_client_is_counted_only_when_everyone_together_could_pass_its_share() -> None:
    """Everyone's usage within one share bounds the client's: no count; past it, the count."""
    count = ClientCount()
    shares = ClientShares(count)

    async def main() -> list[ClientTotals]:
        small = Usage(live_secrets=5, stored_bytes=9999, ciphertext_bytes=500)
        seen = []
        with shares.holding("bob", 40):
            # Within the share: everyone's usage (and every create in flight) is the answer.
            seen.append(await shares.used("alice", ["t"], 0, small, within(100, 10_000)))
            # Everyone's live secrets reach the share: the client's own are counted.
            seen.append(await shares.used("alice", ["t"], 0, small, within(6, 10_000)))
            # Everyone's bytes would pass it: counted too.
            seen.append(await shares.used("alice", ["t"], 0, small, within(100, 545)))
            with shares.holding("alice", 7):
                seen.append(await shares.used("alice", ["t"], 0, small, within(6, 10_000)))
        return seen

    seen = asyncio.run(main())
    assert seen == [
        ClientTotals(6, 540),
        ClientTotals(3, 300),
        ClientTotals(3, 300),
        ClientTotals(4, 307),
    ]
    assert count.calls == 3


def test_an_answer_in_flight_holds_bytes_and_no_place() -> None:
    """``secrets=0`` (an answer, whose request holds its place) adds bytes only, then lets go."""
    count = ClientCount()
    shares = ClientShares(count)

    async def main() -> list[ClientTotals]:
        small = Usage(live_secrets=5, stored_bytes=9999, ciphertext_bytes=500)
        seen = []
        with shares.holding("tag:t", 70, secrets=0):
            seen.append(await shares.used("tag:t", ["t"], 0, small, within(1, 10_000)))
            with shares.holding("tag:t", 5, secrets=0):
                seen.append(await shares.used("tag:t", ["t"], 0, small, within(1, 10_000)))
        seen.append(await shares.used("tag:t", ["t"], 0, small, within(1, 10_000)))
        return seen

    assert asyncio.run(main()) == [
        ClientTotals(3, 370),
        ClientTotals(3, 375),
        ClientTotals(3, 300),
    ]


def test_a_create_that_lands_while_its_client_is_counted_still_counts() -> None:
    """The count's read may predate a create's commit: a create ending meanwhile is added."""
    gate = asyncio.Event()

    async def count(tags: Sequence[str], now: int) -> ClientTotals:
        del tags, now
        # The read's snapshot: taken before the create below committed.
        snapshot = ClientTotals(3, 300)
        await gate.wait()
        return snapshot

    shares = ClientShares(count)

    async def main() -> tuple[ClientTotals, ClientTotals]:
        everyone = Usage(live_secrets=50, stored_bytes=9999, ciphertext_bytes=5000)
        with shares.holding("alice", 40):
            reading = asyncio.create_task(shares.used("alice", ["t"], 0, everyone, within(4, 10)))
            await asyncio.sleep(0)
        # Stored and no longer in flight while the read was under way.
        gate.set()
        during = await reading
        after = await shares.used("alice", ["t"], 0, everyone, within(4, 10))
        return during, after

    during, after = asyncio.run(main())
    assert during == ClientTotals(4, 340)
    # Nothing is left behind for later counts.
    assert after == ClientTotals(3, 300)


def test_overlapping_counts_of_one_client_each_see_what_landed_during_their_own_read() -> None:
    """Two counts begun together, ended out of order: each keeps its own landings, none fails."""
    gates = [asyncio.Event(), asyncio.Event()]
    started: list[asyncio.Event] = []

    async def count(tags: Sequence[str], now: int) -> ClientTotals:
        del tags, now
        gate = gates[len(started)]
        started.append(gate)
        await gate.wait()
        return ClientTotals(3, 300)

    shares = ClientShares(count)

    async def main() -> tuple[ClientTotals, ClientTotals]:
        everyone = Usage(live_secrets=50, stored_bytes=9999, ciphertext_bytes=5000)
        first = asyncio.create_task(shares.used("alice", ["t"], 0, everyone, within(4, 10)))
        second = asyncio.create_task(shares.used("alice", ["t"], 0, everyone, within(4, 10)))
        await until(lambda: len(started) == 2, "both counts reading")
        # The later one ends first, while neither has seen a create land: equal, not the same.
        gates[1].set()
        ended_first = await second
        # A create stored while only the first count still reads.
        with shares.holding("alice", 40):
            pass
        gates[0].set()
        return ended_first, await first

    ended_first, ended_last = asyncio.run(main())
    assert ended_first == ClientTotals(3, 300)
    assert ended_last == ClientTotals(4, 340)
