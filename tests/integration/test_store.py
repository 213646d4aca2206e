"""The store on both databases: exactly-once claims, lost-update-free failures, sweeping."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from ots import db, store
from ots.crypto import KdfParams, Sealed
from ots.errors import UnavailableError
from tests.support import make_settings

T = TypeVar("T")
NOW = 1_800_000_000
RETENTION = 100


def run(db_url: str, body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` with Tortoise open on ``db_url``."""

    async def main() -> T:
        context = await db.open_database(make_settings(db_url))
        try:
            return await body()
        finally:
            await db.close_database(context)

    return asyncio.run(main())


@dataclass
class Row:
    """Identifiers of a dummy secret and its receipt."""

    id: int
    lookup: str
    receipt: str


async def insert(expires_at: int = NOW + 60) -> Row:
    """Insert a dummy sealed secret with its receipt."""
    lookup, receipt = secrets.token_hex(32), secrets.token_hex(32)
    sealed = Sealed(b"s" * 16, b"n" * 12, b"ciphertext", KdfParams(1, 8, 1))
    await store.insert_secret(
        lookup=lookup,
        receipt_lookup=receipt,
        sealed=sealed,
        created_at=NOW,
        expires_at=expires_at,
        purge_at=expires_at + RETENTION,
    )
    found = await store.find_live(lookup, min(NOW, expires_at - 1))
    assert found is not None
    assert found.sealed == sealed
    return Row(found.id, lookup, receipt)


async def claim(row: Row, now: int = NOW) -> bool:
    """Claim ``row`` as a reader would."""
    return await store.claim(row.id, row.lookup, now, now + RETENTION)


async def fail(row: Row, now: int = NOW, max_attempts: int = 5) -> int | None:
    """Record one wrong passphrase on ``row``."""
    return await store.record_failure(row.id, row.lookup, now, max_attempts, now + RETENTION)


def test_claim_is_exactly_once_under_concurrency(db_url: str) -> None:
    """Of 25 concurrent claims on one secret, exactly one wins."""

    async def body() -> list[bool]:
        row = await insert()
        return await asyncio.gather(*(claim(row) for _ in range(25)))

    assert sorted(run(db_url, body)) == [False] * 24 + [True]


def test_expired_secret_cannot_be_claimed_or_found(db_url: str) -> None:
    """Expiry is checked in the statements themselves, not by a sweeper."""

    async def body() -> tuple[bool, int | None]:
        row = await insert(expires_at=NOW + 1)
        return await claim(row, NOW + 1), await fail(row, NOW + 1)

    assert run(db_url, body) == (False, None)


def test_failures_are_counted_without_lost_updates(db_url: str) -> None:
    """Concurrent failures each get their own count; the max-th destroys the secret."""

    async def body() -> tuple[list[int | None], bool]:
        row = await insert()
        counts = await asyncio.gather(*(fail(row) for _ in range(8)))
        return list(counts), await claim(row)

    counts, claimed = run(db_url, body)
    assert sorted(c for c in counts if c is not None) == [1, 2, 3, 4, 5]
    assert counts.count(None) == 3
    assert claimed is False


def test_sweep_removes_only_expired_in_batches(db_url: str) -> None:
    """A sweep deletes at most one batch, and never a live secret."""

    async def body() -> tuple[int, int, int, bool]:
        await store.sweep_expired(NOW + 10**9, 10**6)  # start from a clean table
        expired = [await insert(expires_at=NOW - 1) for _ in range(5)]
        live = await insert(expires_at=NOW + 3600)
        first = await store.sweep_expired(NOW, 3)
        second = await store.sweep_expired(NOW, 3)
        third = await store.sweep_expired(NOW, 3)
        del expired
        return first, second, third, await claim(live)

    assert run(db_url, body) == (3, 2, 0, True)


def test_unreachable_database_is_unavailable() -> None:
    """A refused connection surfaces as UnavailableError, never a driver error."""
    url = "postgres://postgres@127.0.0.1:1/none"

    async def body() -> None:
        await store.ping()

    with pytest.raises(UnavailableError) as caught:
        run(url, body)
    assert caught.value.status == 503
    assert caught.value.retry_after


def test_burn_and_claim_race_has_one_winner(db_url: str) -> None:
    """A burn racing reveals: exactly one succeeds and the receipt tells which."""

    async def body() -> list[tuple[bool, bool, str]]:
        outcomes = []
        for _ in range(10):
            row = await insert()
            burned, *claims = await asyncio.gather(
                store.burn(row.receipt, NOW, NOW + RETENTION), claim(row), claim(row)
            )
            receipt = await store.find_receipt(row.receipt, NOW)
            assert receipt is not None
            outcomes.append((bool(burned), any(claims), receipt.state))
        return outcomes

    for burned, claimed, state in run(db_url, body):
        assert burned != claimed
        assert state == ("burned" if burned else "revealed")


def test_receipts_follow_the_secret_and_are_purged(db_url: str) -> None:
    """Failures are mirrored, destruction reads burned, and purging honours purge_at."""

    async def body() -> None:
        row = await insert()
        await fail(row, max_attempts=2)
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None
        assert (receipt.state, receipt.failed_attempts) == ("pending", 1)
        await fail(row, max_attempts=2)
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None
        assert (receipt.state, receipt.failed_attempts) == ("burned", 2)
        assert await store.find_receipt(row.receipt, NOW + RETENTION) is None
        await store.purge_receipts(NOW + 10**9, 10**6)
        assert await store.find_receipt(row.receipt, NOW) is None
        assert await store.burn(row.receipt, NOW, NOW) is False

    run(db_url, body)


def test_usage_counts_live_secrets_their_bytes_and_all_receipts(db_url: str) -> None:
    """The quota's source: live rows, their ciphertext bytes, and every receipt kept."""

    async def body() -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        before = await store.usage(NOW)
        await insert()
        await insert(expires_at=NOW - 1)  # expired: its receipt still counts, its bytes not
        after = await store.usage(NOW)
        return before, after

    before, after = run(db_url, body)
    assert after[0] - before[0] == 1
    assert after[1] - before[1] == len(b"ciphertext")
    assert after[2] - before[2] == 2
