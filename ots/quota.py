"""The storage quota: what the database holds, in total and per client.

Both the rows and the bytes count: a row quota alone let one client park
tens of gigabytes of 64 KiB secrets. Bytes are the live secrets'
ciphertexts plus a fixed allowance per row for every secret and every
receipt (receipts outlive their secrets by ``OTS_RECEIPT_RETENTION``).

The total is a cheap, bounded-staleness estimate (``StorageGauge``). A
client's share (``ClientShares``) is counted exactly, in the database, so
every worker and replica sees the same figures: its live secrets, and their
ciphertext bytes, each held against its part of the total's quota (the row
allowance is already bounded by the count). A receipt left after its secret
ended counts in the total only: it carries no trace of who created it.

That count reads as many rows as the client holds, on every create. While
the whole instance holds less than one share, no client can hold more, so
the count is skipped: a small instance, or a benchmark's one busy client,
never counts; a big one counts only for its clients.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from ots import metrics
from ots.domain import ClientTotals, StoredTotals

# What one row costs beyond its ciphertext: columns, hashes, index entries, page slack.
ROW_BYTES: Final = 512


@dataclass(frozen=True)
class Usage:
    """Live secrets, and the bytes stored for them and for every receipt."""

    live_secrets: int
    stored_bytes: int
    # The live secrets' ciphertexts alone (an estimate too, high while ended ones are
    # not yet counted away): what a client's share of bytes is held against.
    ciphertext_bytes: int = 0


class StorageGauge:
    """An estimate of the database's usage, refreshed from the database now and then.

    Counting a million rows on every create would be the slowest part of the
    request, so the database is asked at most every ``REFRESH_SECONDS``, or
    less often when the count itself is slow (never more than a
    twentieth of the time), and the estimate is adjusted in between by this
    worker's own creates and removals. Other workers' changes show up at the
    next refresh.
    """

    REFRESH_SECONDS: Final = 2
    MAX_SHARE: Final = 20

    def __init__(self, count: Callable[[int], Awaitable[StoredTotals]]) -> None:
        """Start with no count; the first check asks ``count`` (the store)."""
        self._count = count
        self._live = 0
        self._bytes = 0
        self._ciphertext = 0
        self._due_at: float | None = None

    async def current(self, now: int) -> Usage:
        """Return the estimated usage."""
        if self._due_at is None or now >= self._due_at:
            # Due again only later: the creates arriving while this count runs use
            # the current estimate instead of each starting a scan of their own.
            self._due_at = now + self.REFRESH_SECONDS
            started = time.monotonic()
            totals = await self._count(now)
            took = time.monotonic() - started
            self._live = totals.live_secrets
            self._ciphertext = totals.ciphertext_bytes
            self._bytes = totals.ciphertext_bytes + ROW_BYTES * (
                totals.live_secrets + totals.receipts
            )
            self._due_at = now + max(self.REFRESH_SECONDS, self.MAX_SHARE * took)
            self._publish()
        return Usage(self._live, self._bytes, self._ciphertext)

    def added(self, ciphertext_bytes: int, *, secrets: int = 1) -> None:
        """Count a secret (and its receipt) this worker just stored.

        ``secrets`` 0: the bytes of a request's answer, whose request was
        counted live when it was made.
        """
        self._live += secrets
        self._ciphertext += ciphertext_bytes
        # An answer's rows (its request and receipt) were counted when it was asked.
        self._bytes += ciphertext_bytes + 2 * ROW_BYTES * secrets
        self._publish()

    def ended(self) -> None:
        """Count a secret that left the table (its receipt stays until purged)."""
        self._live = max(0, self._live - 1)
        self._publish()

    def _publish(self) -> None:
        metrics.LIVE_SECRETS.set(self._live)
        metrics.STORED_BYTES.set(self._bytes)


# A client with nothing in flight.
NOTHING: Final = ClientTotals(0, 0)


class ClientShares:
    """What each client has stored: its live secrets in the database, plus its creates in flight.

    The database is the truth for every worker and replica. A create of this
    worker that passed the check but is not committed yet (it may be
    hashing) is held here until it is, so that a burst of one client's
    creates in one worker cannot all pass on the same count. Across workers
    such a burst can still pass together once; the next count sees it. A
    create just committed may count twice for a moment (stored, and not yet
    let go of here): the error is on the side of refusing.
    Creates in flight are held under the client's newest quota tag, the one
    its rows are stored under (an answer under its request's): never the
    quota key itself.
    """

    def __init__(self, count: Callable[[Sequence[str], int], Awaitable[ClientTotals]]) -> None:
        """Count a client's stored secrets with ``count`` (the store); nothing in flight yet."""
        self._count = count
        self._in_flight: dict[str, ClientTotals] = {}
        # Every client's creates in flight in this worker, together.
        self._flying = NOTHING
        # Each client's counts under way, each with what its client's creates stored while
        # it read: the read may have begun before their commit, and they are no longer in
        # flight.
        self._counting: dict[str, set[_Count]] = {}

    async def used(
        self,
        holder: str,
        tags: Sequence[str],
        now: int,
        everyone: Usage,
        fits: Callable[[ClientTotals], bool],
    ) -> ClientTotals:
        """Return what ``holder``'s client holds (stored under ``tags``, or in flight).

        When what the whole instance holds (``everyone``, with every create in
        flight here) ``fits`` the share, that is returned instead: it bounds
        the client's part from above, and costs no count in the database.
        """
        upper = _plus(ClientTotals(everyone.live_secrets, everyone.ciphertext_bytes), self._flying)
        if fits(upper):
            return upper
        counting = _Count()
        counts = self._counting.setdefault(holder, set())
        counts.add(counting)
        try:
            stored = await self._count(tags, now)
        finally:
            # By identity: two counts that saw the same creates land are still two.
            counts.discard(counting)
            if not counts:
                self._counting.pop(holder, None)
        # Those that landed during the read count too (twice at worst, never not at all).
        total = _plus(stored, self._in_flight.get(holder, NOTHING))
        for create in counting.landed:
            total = _plus(total, create)
        return total

    @contextlib.contextmanager
    def holding(self, holder: str, size: int, *, secrets: int = 1) -> Iterator[None]:
        """Count a create of ``size`` bytes in flight until the block ends (stored, or failed).

        ``size`` is the secret's, which its ciphertext exceeds by a few bytes only.
        ``secrets`` 0: bytes only (a request's answer, whose request holds its place).
        """
        held = ClientTotals(secrets, size)
        before = self._in_flight.get(holder, NOTHING)
        self._in_flight[holder] = _plus(before, held)
        self._flying = _plus(self._flying, held)
        try:
            yield
        finally:
            for counting in self._counting.get(holder, ()):
                counting.landed.append(held)
            self._flying = _minus(self._flying, held)
            left = _minus(self._in_flight.get(holder, NOTHING), held)
            if left == NOTHING:
                self._in_flight.pop(holder, None)
            else:
                self._in_flight[holder] = left


@dataclass(eq=False)
class _Count:
    """One count of a client under way; equal only to itself, whatever it holds."""

    # The client's creates that were stored, and let go of, while this count read.
    landed: list[ClientTotals] = field(default_factory=list)


def _plus(a: ClientTotals, b: ClientTotals) -> ClientTotals:
    return ClientTotals(a.live_secrets + b.live_secrets, a.ciphertext_bytes + b.ciphertext_bytes)


def _minus(a: ClientTotals, b: ClientTotals) -> ClientTotals:
    return ClientTotals(a.live_secrets - b.live_secrets, a.ciphertext_bytes - b.ciphertext_bytes)
