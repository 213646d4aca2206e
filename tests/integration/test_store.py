"""The store on both databases: exactly-once claims, lost-update-free failures, sweeping."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from ots import db, store
from ots.crypto import KdfParams, Sealed
from ots.errors import UnavailableError
from tests.support import make_settings

T = TypeVar("T")
NOW = 1_800_000_000


def run(db_url: str, body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` with Tortoise open on ``db_url``."""

    async def main() -> T:
        context = await db.open_database(make_settings(db_url))
        try:
            return await body()
        finally:
            await db.close_database(context)

    return asyncio.run(main())


async def insert(expires_at: int = NOW + 60) -> int:
    """Insert a dummy sealed secret; return its id."""
    lookup = secrets.token_hex(32)
    sealed = Sealed(b"s" * 16, b"n" * 12, b"ciphertext", KdfParams(1, 8, 1))
    await store.insert_secret(lookup=lookup, sealed=sealed, created_at=NOW, expires_at=expires_at)
    found = await store.find_live(lookup, min(NOW, expires_at - 1))
    assert found is not None
    assert found.sealed == sealed
    return found.id


def test_claim_is_exactly_once_under_concurrency(db_url: str) -> None:
    """Of 25 concurrent claims on one secret, exactly one wins."""

    async def body() -> list[bool]:
        secret_id = await insert()
        return await asyncio.gather(*(store.claim(secret_id, NOW) for _ in range(25)))

    assert sorted(run(db_url, body)) == [False] * 24 + [True]


def test_expired_secret_cannot_be_claimed_or_found(db_url: str) -> None:
    """Expiry is checked in the statements themselves, not by a sweeper."""

    async def body() -> tuple[bool, int | None]:
        secret_id = await insert(expires_at=NOW + 1)
        return await store.claim(secret_id, NOW + 1), await store.record_failure(
            secret_id, NOW + 1, 5
        )

    assert run(db_url, body) == (False, None)


def test_failures_are_counted_without_lost_updates(db_url: str) -> None:
    """Concurrent failures each get their own count; the max-th destroys the secret."""

    async def body() -> tuple[list[int | None], bool]:
        secret_id = await insert()
        counts = await asyncio.gather(*(store.record_failure(secret_id, NOW, 5) for _ in range(8)))
        return list(counts), await store.claim(secret_id, NOW)

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
        return first, second, third, await store.claim(live, NOW)

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
