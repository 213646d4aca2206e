"""The store contract, held by TortoiseStore on both databases and by the in-memory fake.

Exactly-once claims, lost-update-free failures, receipts, sweeping and totals:
what the service relies on. The fake runs the same tests, so the service
tests that use it (tests/unit/test_service.py) prove something about the real
thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest.mock import ANY

import asyncpg
import pytest

from ots import db
from ots.config import sqlite_path
from ots.domain import (
    STATE_AFTER,
    Destruction,
    DueDelivery,
    EncryptedSecret,
    Event,
    KdfParams,
    NewSecret,
    NewWebhook,
    SealedField,
    State,
    Transition,
)
from ots.errors import UnavailableError
from ots.models import SecretRecord
from ots.service import SecretStore
from ots.store import open_store, sqlite_engine
from ots.store import sql as sql_text
from ots.store.facade import TortoiseStore
from ots.store.leases import Leases
from ots.store.postgres import PostgresBackend
from ots.store.sqlite import SqliteBackend
from ots.store.sqlite_engine import GroupCommit, SqliteReader, SqliteThread, WriterQueue
from tests.conftest import Migrated
from tests.fakes import MemoryStore
from tests.support import DATABASES, empty_database, make_settings, sql

T = TypeVar("T")
NOW = 1_800_000_000
RETENTION = 100
Body = Callable[[SecretStore], Awaitable[T]]


@dataclass
class Backend:
    """A database (None: the fake) and the way to run a test body against its store."""

    database_url: str | None

    def run(self, body: Body[T]) -> T:
        """Run ``body(store)``: the fake, or the store opened on the database."""

        async def main() -> T:
            if self.database_url is None:
                return await body(MemoryStore())
            context = await db.open_database(make_settings(self.database_url))
            store = open_store()
            try:
                return await body(store)
            finally:
                await store.close()
                await db.close_database(context)

        return asyncio.run(main())


@pytest.fixture(params=["memory", *DATABASES])
def backend(request: pytest.FixtureRequest, migrated: Migrated) -> Backend:
    """The fake, then the real store on each database kind, emptied for the test."""
    if request.param == "memory":
        return Backend(None)
    url = migrated(request.param)
    empty_database(url)
    return Backend(url)


@dataclass
class Row:
    """Identifiers of a dummy secret and its receipt."""

    id: int
    lookup: str
    receipt: str


SEALED = EncryptedSecret(b"s" * 16, b"n" * 12, b"ciphertext", KdfParams(1, 8, 1), "k1")


# A secret its client sealed: no passphrase cost, a (keyed) verifier.
CLIENT_SEALED = EncryptedSecret(b"", b"n" * 12, b"ciphertext", None, "k1", "hmac-sha256:proof")


async def insert(
    store: SecretStore,
    expires_at: int = NOW + 60,
    quota_tag: str | None = None,
    encrypted: EncryptedSecret = SEALED,
) -> Row:
    """Insert a dummy sealed secret with its receipt, counted against ``quota_tag``."""
    lookup, receipt = secrets.token_hex(32), secrets.token_hex(32)
    await store.insert_secret(
        NewSecret(
            lookup,
            receipt,
            encrypted,
            NOW,
            expires_at,
            purge_at=expires_at + RETENTION,
            quota_tag=quota_tag,
        )
    )
    found = await store.find_live(lookup, min(NOW, expires_at - 1))
    assert found is not None
    assert found.encrypted == encrypted
    return Row(found.id, lookup, receipt)


async def claim(store: SecretStore, row: Row, now: int = NOW) -> bool:
    """Claim ``row`` as a reader would; tell whether this call won."""
    return await store.claim(row.id, row.lookup, now, now + RETENTION) is not None


async def fail(store: SecretStore, row: Row, now: int = NOW, limit: int = 5) -> int | None:
    """Record one wrong passphrase on ``row``; return the count after it."""
    failure = await store.record_failure(row.id, row.lookup, now, Destruction(limit, now + 1))
    return None if failure is None else failure.failed_attempts


def test_a_client_sealed_row_comes_back_as_stored(backend: Backend) -> None:
    """A sealed-mode row (no argon2id cost, a verifier digest) reads back exactly."""
    by_client = EncryptedSecret(b"s" * 16, b"n" * 12, b"outer", None, "k1", verifier="ab" * 32)

    async def body(store: SecretStore) -> Any:
        lookup = secrets.token_hex(32)
        new = NewSecret(lookup, secrets.token_hex(32), by_client, NOW, NOW + 60, NOW + 120)
        await store.insert_secret(new)
        return await store.find_live(lookup, NOW)

    found = backend.run(body)
    assert found.encrypted == by_client
    assert found.encrypted.by_client
    assert not SEALED.by_client


def test_claim_is_exactly_once_under_concurrency(backend: Backend) -> None:
    """Of 25 concurrent claims on one secret, exactly one wins."""

    async def body(store: SecretStore) -> list[bool]:
        row = await insert(store)
        return await asyncio.gather(*(claim(store, row) for _ in range(25)))

    assert sorted(backend.run(body)) == [False] * 24 + [True]


def test_expired_secret_cannot_be_claimed_or_found(backend: Backend) -> None:
    """Expiry is checked in the statements themselves, not by a sweeper."""

    async def body(store: SecretStore) -> tuple[bool, int | None, Any]:
        row = await insert(store, expires_at=NOW + 1)
        return (
            await claim(store, row, NOW + 1),
            await fail(store, row, NOW + 1),
            await store.find_live(row.lookup, NOW + 1),
        )

    assert backend.run(body) == (False, None, None)


def test_failures_are_counted_without_lost_updates(backend: Backend) -> None:
    """Concurrent failures each get their own count; the limit-th destroys the secret."""

    async def body(store: SecretStore) -> tuple[list[int | None], bool, Any]:
        row = await insert(store)
        counts = await asyncio.gather(*(fail(store, row) for _ in range(8)))
        return list(counts), await claim(store, row), await store.find_receipt(row.receipt, NOW)

    counts, claimed, receipt = backend.run(body)
    assert sorted(c for c in counts if c is not None) == [1, 2, 3, 4, 5]
    assert counts.count(None) == 3
    assert claimed is False
    assert (receipt.state, receipt.failed_attempts) == (State.BURNED, 5)


def test_a_destroyed_secret_reads_as_the_domain_says(backend: Backend) -> None:
    """The last wrong passphrase commits ``destroyed``; the receipt reads STATE_AFTER's state."""

    async def body(store: SecretStore) -> tuple[Any, Any]:
        row = await insert(store)
        failure = await store.record_failure(row.id, row.lookup, NOW, Destruction(1, NOW + 1))
        return failure, await store.find_receipt(row.receipt, NOW)

    failure, receipt = backend.run(body)
    assert failure.transition.event is Event.DESTROYED
    assert receipt.state is STATE_AFTER[Event.DESTROYED] is State.BURNED


def test_each_write_returns_the_transition_it_committed(backend: Backend) -> None:
    """The event, the secret and the time of every state change, from the store that wrote it."""

    async def body(store: SecretStore) -> list[Transition | None]:
        lookup = secrets.token_hex(32)
        new = NewSecret(lookup, secrets.token_hex(32), SEALED, NOW, NOW + 60, NOW + 99)
        created = await store.insert_secret(new)
        read, burned, failed = [await insert(store) for _ in range(3)]
        expiring = await insert(store, expires_at=NOW + 1)
        failures = [
            await store.record_failure(failed.id, failed.lookup, NOW, Destruction(2, NOW))
            for _ in range(2)
        ]
        return [
            created,
            await store.claim(read.id, read.lookup, NOW, NOW),
            await store.burn(burned.receipt, NOW, NOW),
            *(None if failure is None else failure.transition for failure in failures),
            await store.delete_expired_secrets(NOW + 1, 10),
            Transition(Event.CREATED, (lookup,), NOW),
            Transition(Event.REVEALED, (read.lookup,), NOW),
            Transition(Event.BURNED, (burned.lookup,), NOW),
            Transition(Event.WRONG_PASSPHRASE, (failed.lookup,), NOW),
            Transition(Event.DESTROYED, (failed.lookup,), NOW),
            Transition(Event.EXPIRED, (expiring.lookup,), NOW + 1),
        ]

    outcomes = backend.run(body)
    # No webhook here: nothing queued.
    assert outcomes[:6] == outcomes[6:]


def test_sweep_removes_only_expired_in_batches(backend: Backend) -> None:
    """A sweep deletes at most one batch, never a live secret, and names what it removed."""

    async def body(store: SecretStore) -> tuple[int, int, int, bool, bool]:
        expired = {(await insert(store, expires_at=NOW - 1)).lookup for _ in range(5)}
        live = await insert(store, expires_at=NOW + 3600)
        first = (await store.delete_expired_secrets(NOW, 3)).lookups
        second = (await store.delete_expired_secrets(NOW, 3)).lookups
        third = (await store.delete_expired_secrets(NOW, 3)).lookups
        named = set(first) | set(second) == expired
        return len(first), len(second), len(third), named, await claim(store, live)

    assert backend.run(body) == (3, 2, 0, True, True)


def test_burn_and_claim_race_has_one_winner(backend: Backend) -> None:
    """A burn racing reveals: exactly one succeeds and the receipt tells which."""

    async def body(store: SecretStore) -> list[tuple[bool, bool, State]]:
        outcomes = []
        for _ in range(10):
            row = await insert(store)
            burned, *claims = await asyncio.gather(
                store.burn(row.receipt, NOW, NOW + RETENTION),
                claim(store, row),
                claim(store, row),
            )
            receipt = await store.find_receipt(row.receipt, NOW)
            assert receipt is not None
            assert burned is None or burned.lookups == (row.lookup,)
            outcomes.append((bool(burned), any(claims), receipt.state))
        return outcomes

    for burned, claimed, state in backend.run(body):
        assert burned != claimed
        assert state is (State.BURNED if burned else State.REVEALED)


def test_the_first_of_concurrent_checks_opens_and_a_late_one_writes_nothing(
    backend: Backend,
) -> None:
    """Racing first checks write opened_at once; a check whose secret ended since writes nothing."""

    async def body(store: SecretStore) -> None:
        row = await insert(store)
        counts = await asyncio.gather(*(store.check(row.lookup, NOW + i) for i in range(1, 9)))
        assert counts == [0] * 8
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None and receipt.opened_at in range(NOW + 1, NOW + 9)
        # A check that found the secret live, then lost the race to its reveal.
        late = await insert(store)
        assert await claim(store, late, NOW + 2)
        assert await store.check(late.lookup, NOW + 3) == 0
        ended = await store.find_receipt(late.receipt, NOW)
        assert ended is not None
        assert (ended.state, ended.opened_at) == (State.REVEALED, None)

    backend.run(body)


def test_a_sealed_secret_goes_in_one_statement_to_its_verifier_only(backend: Backend) -> None:
    """claim_sealed takes the row with the right key and verifier, once; anything else, never."""

    async def body(store: SecretStore) -> None:
        row = await insert(store, encrypted=CLIENT_SEALED)
        verifier = CLIENT_SEALED.verifier
        assert verifier is not None
        purge = NOW + RETENTION
        assert await store.claim_sealed(row.lookup, "k1", "hmac-sha256:wrong", NOW, purge) is None
        assert await store.claim_sealed(row.lookup, "k0", verifier, NOW, purge) is None
        assert await store.claim_sealed(row.lookup, "k1", verifier, NOW + 60, purge) is None
        assert await store.claim_sealed("0" * 64, "k1", verifier, NOW, purge) is None
        assert await store.find_live(row.lookup, NOW) is not None, "nothing taken so far"
        results = await asyncio.gather(
            *(store.claim_sealed(row.lookup, "k1", verifier, NOW + 1, purge) for _ in range(4))
        )
        taken = [result for result in results if result is not None]
        assert len(taken) == 1
        stored, revealed = taken[0]
        assert (stored.id, stored.encrypted, stored.expires_at) == (row.id, CLIENT_SEALED, NOW + 60)
        assert (revealed.event, revealed.lookups, revealed.at) == (
            Event.REVEALED,
            (row.lookup,),
            NOW + 1,
        )
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None
        assert (receipt.state, receipt.revealed_at) == (State.REVEALED, NOW + 1)
        # A passphrase secret (no verifier) is never taken this way.
        other = await insert(store)
        assert await store.claim_sealed(other.lookup, "k1", verifier, NOW, purge) is None

    backend.run(body)


def test_receipts_follow_the_secret_and_are_purged(backend: Backend) -> None:
    """Failures are mirrored, the first check and the reveal are timed, purging honours purge_at."""

    async def body(store: SecretStore) -> None:
        row = await insert(store)
        await fail(store, row)
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None
        assert (receipt.state, receipt.failed_attempts, receipt.opened_at) == (
            State.PENDING,
            1,
            None,
        )
        assert await store.check(row.lookup, NOW + 1) == 1
        assert await store.check(row.lookup, NOW + 2) == 1
        assert await store.check("0" * 64, NOW + 2) == 0
        assert await claim(store, row, NOW + 5)
        receipt = await store.find_receipt(row.receipt, NOW)
        assert receipt is not None
        assert (receipt.state, receipt.revealed_at) == (State.REVEALED, NOW + 5)
        assert receipt.opened_at == NOW + 1
        assert await store.find_receipt(row.receipt, NOW + 5 + RETENTION) is None
        assert await store.delete_purged_receipts(NOW + 5 + RETENTION, 10) == 1
        assert await store.find_receipt(row.receipt, NOW) is None
        assert await store.burn(row.receipt, NOW, NOW) is None

    backend.run(body)


def test_totals_count_live_secrets_their_bytes_and_all_receipts(backend: Backend) -> None:
    """The quota's source: live rows, their ciphertext bytes, and every receipt kept."""

    async def body(store: SecretStore) -> Any:
        await insert(store)
        await insert(store, expires_at=NOW - 1)  # expired: its receipt still counts, its bytes not
        return await store.totals(NOW)

    totals = backend.run(body)
    assert (totals.live_secrets, totals.ciphertext_bytes, totals.receipts) == (
        1,
        len(SEALED.ciphertext),
        2,
    )


# Two clients' quota tags, and one under an older server key of the first.
TAG_A, TAG_B, TAG_A_OLD = "a" * 64, "b" * 64, "c" * 64


def test_client_totals_count_one_clients_live_secrets(backend: Backend) -> None:
    """A client's live rows under any of its tags, with their bytes; nobody else's, no expired."""
    size = len(SEALED.ciphertext)

    async def body(store: SecretStore) -> list[tuple[int, int]]:
        for tag in (TAG_A, TAG_A, TAG_A_OLD, TAG_B, None):
            await insert(store, quota_tag=tag)
        await insert(store, expires_at=NOW - 1, quota_tag=TAG_A)
        asked = [[TAG_A], [TAG_A, TAG_A_OLD], [TAG_B], ["d" * 64], []]
        totals = [await store.client_totals(tags, NOW) for tags in asked]
        return [(t.live_secrets, t.ciphertext_bytes) for t in totals]

    assert backend.run(body) == [(2, 2 * size), (3, 3 * size), (1, size), (0, 0), (0, 0)]


ENDINGS = ["claimed", "burned", "destroyed", "expired"]


@pytest.mark.parametrize("ending", ENDINGS, ids=ENDINGS)
def test_a_secret_that_ends_leaves_its_clients_totals(backend: Backend, ending: str) -> None:
    """Read, burned, destroyed or expired (swept or not): the client holds it no more."""

    async def body(store: SecretStore) -> tuple[int, int, int]:
        row = await insert(store, expires_at=NOW + 10, quota_tag=TAG_A)
        await insert(store, quota_tag=TAG_A)
        before = (await store.client_totals([TAG_A], NOW)).live_secrets
        now = NOW
        if ending == "claimed":
            assert await claim(store, row)
        elif ending == "burned":
            burned = await store.burn(row.receipt, NOW, NOW + RETENTION)
            assert burned is not None and burned.lookups == (row.lookup,)
        elif ending == "destroyed":
            assert await fail(store, row, limit=1) == 1
        else:
            now = NOW + 10
        after = (await store.client_totals([TAG_A], now)).live_secrets
        await store.delete_expired_secrets(now, 10)
        return before, after, (await store.client_totals([TAG_A], now)).live_secrets

    assert backend.run(body) == (2, 1, 1)


def test_erasing_and_pinging_answer(backend: Backend) -> None:
    """An erase pass with nothing pending completes; a ping of a live store returns."""

    async def body(store: SecretStore) -> bool:
        await store.ping()
        return await store.erase_ended()

    assert backend.run(body) is True


def test_unreachable_database_is_unavailable() -> None:
    """A refused connection surfaces as UnavailableError, never a driver error."""
    backend = Backend("postgres://postgres@127.0.0.1:1/none")
    with pytest.raises(UnavailableError) as caught:
        backend.run(lambda store: store.ping())
    assert caught.value.status == 503
    assert caught.value.retry_after


def test_a_sweep_batch_queues_expired_events_for_subscribers_only(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Webhooks are looked up in several IN lists per batch: each subscriber that wants it."""
    if backend.database_url is None:
        pytest.skip("the in-memory fake keeps no outbox (tests/api/test_events.py covers it)")
    monkeypatch.setattr(sql_text, "LOOKUPS_PER_QUERY", 2)
    hook = SealedField(b"n" * 12, b"sealed url and secret", "k1")
    expired, revealed = frozenset({Event.EXPIRED}), frozenset({Event.REVEALED})

    async def body(store: SecretStore) -> tuple[list[str], list[str], list[DueDelivery]]:
        lookups, wanted = [], []
        for i in range(7):
            lookup = secrets.token_hex(32)
            # Even rows want "expired", odd ones only "revealed", the last has no webhook.
            webhook = None if i == 6 else NewWebhook(expired if i % 2 == 0 else revealed, hook)
            await store.insert_secret(
                NewSecret(lookup, secrets.token_hex(32), SEALED, NOW, NOW + 60, NOW + 99, webhook)
            )
            lookups.append(lookup)
            if webhook is not None and i % 2 == 0:
                wanted.append(lookup)
        swept = await store.delete_expired_secrets(NOW + 60, 10)
        assert sorted(swept.lookups) == sorted(lookups)
        assert swept.queued
        return lookups, wanted, await store.lease_deliveries(NOW + 60, NOW + 120, 100)

    _, wanted, leased = backend.run(body)
    assert sorted(d.lookup for d in leased) == sorted(wanted)
    assert {d.event for d in leased} == {Event.EXPIRED}


def test_a_lease_given_back_unused_is_due_later_with_its_attempt_uncounted(
    backend: Backend,
) -> None:
    """release_deliveries: due at retry_at, attempt not counted; a lease since taken is kept."""
    if backend.database_url is None:
        pytest.skip("the in-memory fake keeps no outbox (tests/api/test_events.py covers it)")
    hook = NewWebhook(frozenset({Event.EXPIRED}), SealedField(b"n" * 12, b"sealed", "k1"))

    async def body(store: SecretStore) -> None:
        for _ in range(3):
            await store.insert_secret(
                NewSecret(
                    secrets.token_hex(32),
                    secrets.token_hex(32),
                    SEALED,
                    NOW,
                    NOW + 60,
                    NOW + 99,
                    hook,
                )
            )
        await store.delete_expired_secrets(NOW + 60, 10)
        first, second, third = await store.lease_deliveries(NOW + 60, NOW + 100, 10)
        assert await store.release_deliveries([first.id, second.id], NOW + 100, NOW + 80) == 2
        # Not our lease any more (it ran out and was taken again): left alone.
        assert await store.release_deliveries([third.id], NOW + 99, NOW + 61) == 0
        assert await store.lease_deliveries(NOW + 79, NOW + 200, 10) == []
        again = await store.lease_deliveries(NOW + 80, NOW + 200, 10)
        assert sorted((d.id, d.attempts) for d in again) == [(first.id, 1), (second.id, 1)]
        # The third's lease runs out unreleased: it is due again, its attempt counted.
        later = await store.lease_deliveries(NOW + 100, NOW + 300, 10)
        assert [(d.id, d.attempts) for d in later] == [(third.id, 2)]

    backend.run(body)


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the SQLite groups committed while the test runs."""
    sizes: list[int] = []
    commit_group = sqlite_engine.commit_group

    def spy(writes: list[Any], db: sqlite3.Connection) -> list[object]:
        sizes.append(len(writes))
        return commit_group(writes, db)

    monkeypatch.setattr(sqlite_engine, "commit_group", spy)
    return sizes


def test_concurrent_writes_are_each_committed_and_answered(
    backend: Backend, groups: list[int]
) -> None:
    """40 creates, then 2 claims of each at once: every write answered and committed.

    On SQLite they share transactions (one commit for many callers); the
    claims still have one winner per secret.
    """

    async def body(store: SecretStore) -> tuple[list[Row], list[bool]]:
        rows = await asyncio.gather(*(insert(store) for _ in range(40)))
        claims = await asyncio.gather(*(claim(store, row) for row in rows for _ in range(2)))
        return rows, claims

    rows, claims = backend.run(body)
    assert [claims[2 * n] + claims[2 * n + 1] for n in range(40)] == [1] * 40
    if backend.database_url is None:
        return
    # From another connection: committed, not merely written.
    assert sql(backend.database_url, "SELECT count(*) FROM secret") == [(0,)]
    revealed = sql(backend.database_url, "SELECT count(*) FROM receipt WHERE state = 'revealed'")
    assert revealed == [(len(rows),)]
    if backend.database_url.startswith("sqlite://"):
        assert max(groups) > 1, groups


def test_writes_that_arrive_while_the_turn_is_awaited_go_in_its_group(
    backend: Backend, groups: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the group is taken once the workers' queue lets this worker write, not before.

    Another process holds the queue (here: the test's own lock on its file);
    a write arrives, then two more while the writer waits. All three go in
    the one commit that follows, instead of one now and two a turn later.
    """
    if backend.database_url is None or not backend.database_url.startswith("sqlite://"):
        pytest.skip("the writers' queue is SQLite's")
    path = sqlite_path(backend.database_url) + db.WRITER_LOCK
    queued = threading.Event()
    turn = WriterQueue.turn

    @contextlib.contextmanager
    def noted_turn(queue: WriterQueue) -> Iterator[None]:
        queued.set()
        with turn(queue):
            yield

    monkeypatch.setattr(WriterQueue, "turn", noted_turn)

    async def body(store: SecretStore) -> None:
        with open(path, "ab", opener=lambda name, flags: os.open(name, flags, db.PRIVATE)) as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            first = asyncio.ensure_future(insert(store))
            assert await asyncio.to_thread(queued.wait, 10)
            later = [asyncio.ensure_future(insert(store)) for _ in range(2)]
            # The two are in the list once their tasks have run up to their wait.
            await asyncio.sleep(0.1)
            assert groups == [] and not first.done()
            fcntl.flock(other, fcntl.LOCK_UN)
        await asyncio.wait_for(asyncio.gather(first, *later), 10)

    backend.run(body)
    assert groups == [3]


def test_a_failing_write_fails_only_its_caller(backend: Backend, groups: list[int]) -> None:
    """A create whose lookup is taken fails; the creates committed with it are kept."""
    if backend.database_url is None:
        pytest.skip("the in-memory fake has no unique constraint")

    async def body(store: SecretStore) -> tuple[list[object], list[str]]:
        taken = await insert(store)
        fresh = [secrets.token_hex(32) for _ in range(5)]
        news = [
            NewSecret(lookup, secrets.token_hex(32), SEALED, NOW, NOW + 60, NOW + 160)
            for lookup in [taken.lookup, *fresh]
        ]
        outcomes = await asyncio.gather(
            *(store.insert_secret(new) for new in news), return_exceptions=True
        )
        return outcomes, fresh

    outcomes, fresh = backend.run(body)
    assert isinstance(outcomes[0], UnavailableError)
    assert [getattr(o, "event", None) for o in outcomes[1:]] == [Event.CREATED] * 5
    for lookup in fresh:
        assert sql(
            backend.database_url, "SELECT count(*) FROM secret WHERE lookup = ?", lookup
        ) == [(1,)]
    assert sql(backend.database_url, "SELECT count(*) FROM receipt") == [(6,)]
    if backend.database_url.startswith("sqlite://"):
        assert 6 in groups, groups


def test_sqlite_writers_wait_their_turn_at_the_write_lock(backend: Backend) -> None:
    """While another worker holds the writers' lock, a sweep and a create wait, then commit.

    Reads do not wait: a lookup is answered while this worker's writes queue.
    """
    url = backend.database_url
    if url is None or not url.startswith("sqlite://"):
        pytest.skip("the writer queue is SQLite's")
    lock_path = db.sqlite_path(url) + db.WRITER_LOCK

    async def body(store: SecretStore) -> tuple[Row, Transition]:
        kept = await insert(store)
        expiring = await insert(store, expires_at=NOW + 1)
        # Another open file description: to flock, another worker.
        with open(lock_path, "rb") as other:
            fcntl.flock(other, fcntl.LOCK_EX)
            sweep = asyncio.ensure_future(store.delete_expired_secrets(NOW + 1, 10))
            done, _ = await asyncio.wait({sweep}, timeout=0.5)
            assert not done, "a sweep went ahead of the lock's holder"
            create = asyncio.ensure_future(insert(store))
            done, _ = await asyncio.wait({create}, timeout=0.5)
            assert not done, "a create went ahead of the lock's holder"
            found = await asyncio.wait_for(store.find_live(kept.lookup, NOW), timeout=5)
            assert found is not None and found.id == kept.id
            fcntl.flock(other, fcntl.LOCK_UN)
        await create
        return expiring, await sweep

    expiring, swept = backend.run(body)
    assert swept.lookups == (expiring.lookup,)
    assert sql(url, "SELECT count(*) FROM secret") == [(2,)]
    assert stat.S_IMODE(os.stat(lock_path).st_mode) == db.PRIVATE


def test_writes_to_a_file_that_cannot_be_opened_all_fail_then_the_next_goes(
    tmp_path: Path,
) -> None:
    """Every write waiting when the writer cannot open the file fails; none is left hanging."""
    path = tmp_path / "ots.sqlite3"
    writer = SqliteThread(str(path), [], "test-writer")
    commits = GroupCommit(writer, WriterQueue(str(path)))

    def add(value: int) -> sqlite_engine.Write[int]:
        return lambda db: db.execute("INSERT INTO t VALUES (?)", (value,)).rowcount

    async def body() -> list[int]:
        failed = await asyncio.wait_for(
            asyncio.gather(*(commits.run(add(n)) for n in range(5)), return_exceptions=True),
            timeout=10,
        )
        assert all(isinstance(outcome, sqlite3.OperationalError) for outcome in failed), failed
        assert not path.exists()
        with sqlite3.connect(path) as setup:
            setup.execute("CREATE TABLE t (x INTEGER)")
        try:
            return list(await asyncio.gather(*(commits.run(add(n)) for n in range(5))))
        finally:
            await writer.close()

    assert asyncio.run(body()) == [1] * 5
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchall() == [(5,)]


class _Stopped(BaseException):
    """What no write raises: stands for a bug that stops the writer's thread half-way."""


def test_when_the_writer_stops_half_way_what_ran_keeps_its_outcome(tmp_path: Path) -> None:
    """A job run alone, then a group, in one turn: the group stops the thread.

    The job's write is committed, so its caller gets its result; the group's
    callers get the error. None is left waiting.
    """
    path = tmp_path / "ots.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x INTEGER)")
    writer = SqliteThread(str(path), [], "test-writer")
    commits = GroupCommit(writer, WriterQueue(str(path)))

    def add(value: int) -> sqlite_engine.Write[int]:
        return lambda db: db.execute("INSERT INTO t VALUES (?)", (value,)).rowcount

    def stop(db: sqlite3.Connection) -> int:
        raise _Stopped

    async def body() -> list[object]:
        # Queued in one turn of the loop, so taken in one turn of the writers' queue.
        calls = (commits.run_alone(add(1)), commits.run(add(2)), commits.run(stop))
        try:
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
        finally:
            await writer.close()

    alone, written, stopped = asyncio.run(body())
    assert alone == 1
    assert isinstance(written, RuntimeError) and isinstance(stopped, RuntimeError)
    assert sqlite3.connect(path).execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_checkpoint_takes_its_turn_in_a_steady_stream_of_writes(backend: Backend) -> None:
    """The WAL checkpoint (run alone, outside a transaction) is not starved by busy writers.

    The writer's thread takes group after group while writes keep coming: a
    job to run alone waits for the writes queued before it, not for a lull.
    """
    if backend.database_url is None or not backend.database_url.startswith("sqlite://"):
        pytest.skip("a SQLite checkpoint")

    async def body(store: SecretStore) -> tuple[bool, int]:
        stop = asyncio.Event()
        written = 0

        async def keep_writing() -> None:
            nonlocal written
            while not stop.is_set():
                await insert(store)
                written += 1

        writers = [asyncio.create_task(keep_writing()) for _ in range(8)]
        try:
            await asyncio.sleep(0.2)
            erased = await asyncio.wait_for(store.erase_ended(), timeout=10)
        finally:
            stop.set()
            await asyncio.gather(*writers)
        return erased, written

    erased, written = backend.run(body)
    assert isinstance(erased, bool)
    assert written > 8


# The reader's two ways to read: on its thread, and on the caller's (falling back to the thread).
READS = ["fetch", "lookup"]
Read = Callable[[str, list[object]], Awaitable[list[sqlite3.Row]]]


def read_with(reader: SqliteReader, way: str) -> Read:
    """The reader's ``fetch`` or ``lookup``."""
    read: Read = getattr(reader, way)
    return read


def sqlite_file(path: Path, *values: int) -> None:
    """Make a WAL-mode SQLite file at ``path`` with a table ``t`` holding ``values``."""
    setup = sqlite3.connect(path)
    try:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        setup.executemany("INSERT INTO t VALUES (?)", [(value,) for value in values])
        setup.commit()
    finally:
        setup.close()


class FetchSpy:
    """Counts the reads a reader hands to its thread, and still makes them."""

    def __init__(self, reader: SqliteReader) -> None:
        """Wrap ``reader.fetch``."""
        self.calls = 0
        self._fetch = reader.fetch
        reader.fetch = self  # type: ignore[method-assign]

    async def __call__(self, query: str, values: list[object]) -> list[sqlite3.Row]:
        """Count the call, then read on the thread."""
        self.calls += 1
        return await self._fetch(query, values)


@pytest.mark.parametrize("way", READS)
def test_sqlite_reader_only_reads_and_never_creates_the_file(tmp_path: Path, way: str) -> None:
    """SQLite's read connections refuse writes, and a missing file is an error, not a new file."""
    path = tmp_path / "ots.sqlite3"
    reader = SqliteReader(str(path))
    read = read_with(reader, way)

    async def body() -> list[tuple[object, ...]]:
        with pytest.raises(sqlite3.OperationalError):
            await read("SELECT 1", [])
        assert not path.exists()
        sqlite_file(path, 7)
        try:
            # The failed open is not kept: the next read opens the file now there.
            rows = await read("SELECT x FROM t WHERE x > ?", [1])
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await read("DELETE FROM t", [])
        finally:
            await reader.close()
        await reader.close()  # closing twice is harmless
        return [tuple(row) for row in rows]

    assert asyncio.run(body()) == [(7,)]
    check = sqlite3.connect(path)
    assert check.execute("SELECT x FROM t").fetchall() == [(7,)]
    check.close()


@pytest.mark.parametrize("way", READS)
def test_a_read_after_the_reader_closed_is_a_database_error(tmp_path: Path, way: str) -> None:
    """A read once the connections closed (shutting down) is a sqlite3 error: 503, never a 500."""
    path = tmp_path / "ots.sqlite3"
    sqlite_file(path)
    reader = SqliteReader(str(path))
    read = read_with(reader, way)

    async def body() -> None:
        await read("SELECT x FROM t", [])
        await reader.close()
        with pytest.raises(sqlite3.OperationalError, match="closed"):
            await read("SELECT x FROM t", [])

    asyncio.run(body())


def test_a_lookup_reads_on_the_callers_thread(tmp_path: Path) -> None:
    """Reads by key go to no thread: the reader's is never asked, and each sees the last commit."""
    path = tmp_path / "ots.sqlite3"
    sqlite_file(path, 1)
    reader = SqliteReader(str(path))
    spy = FetchSpy(reader)
    writer = sqlite3.connect(path, isolation_level=None)

    async def body() -> list[list[tuple[object, ...]]]:
        seen = []
        for value in (2, 3):
            writer.execute("INSERT INTO t VALUES (?)", (value,))
            seen.append([tuple(row) for row in await reader.lookup("SELECT x FROM t", [])])
        await reader.close()
        return seen

    try:
        assert asyncio.run(body()) == [[(1,), (2,)], [(1,), (2,), (3,)]]
    finally:
        writer.close()
    assert spy.calls == 0


def test_a_lookup_that_finds_the_file_locked_waits_for_it_on_the_readers_thread(
    tmp_path: Path,
) -> None:
    """A lookup that meets a lock never blocks the event loop: it waits on the reader's thread."""
    path = tmp_path / "ots.sqlite3"
    sqlite_file(path, 5)
    reader = SqliteReader(str(path))
    spy = FetchSpy(reader)
    # Another program's exclusive hold on the file: every other connection is busy.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")

    async def body() -> tuple[list[tuple[object, ...]], int, list[tuple[object, ...]]]:
        loop = asyncio.get_running_loop()
        lookup = asyncio.create_task(reader.lookup("SELECT x FROM t WHERE x = ?", [5]))
        # The loop goes round while the lookup waits: it is not the one waiting. (Waiting
        # on the loop in SQLite's busy handler would stop it for the whole busy timeout.)
        ticks = [loop.time()]
        while len(ticks) < 10:
            await asyncio.sleep(0.01)
            ticks.append(loop.time())
        assert not lookup.done()
        longest = max(later - earlier for earlier, later in itertools.pairwise(ticks))
        assert longest < db.BUSY_TIMEOUT_MS / 1000 / 3
        holder.close()
        waited = [tuple(row) for row in await lookup]
        calls = spy.calls
        # The next one is on the caller's thread again.
        again = [tuple(row) for row in await reader.lookup("SELECT x FROM t WHERE x = ?", [5])]
        await reader.close()
        return waited, calls, again

    try:
        waited, calls, again = asyncio.run(body())
    finally:
        holder.close()
    assert waited == again == [(5,)]
    assert calls == spy.calls == 1


def test_sqlite_reads_by_key_hand_nothing_to_the_readers_thread(backend: Backend) -> None:
    """A reveal's, a receipt's and a check's reads go on the event loop's thread on SQLite."""
    if backend.database_url is None or not backend.database_url.startswith("sqlite://"):
        pytest.skip("the reader's thread is SQLite's")

    async def body(store: SecretStore) -> tuple[bool, int]:
        assert isinstance(store, TortoiseStore) and isinstance(store.backend, SqliteBackend)
        spy = FetchSpy(store.backend._reader)
        row = await insert(store)
        receipt = await store.find_receipt(row.receipt, NOW)
        await store.check(row.lookup, NOW)
        await store.find_live(row.lookup, NOW)
        return receipt is not None, spy.calls

    assert backend.run(body) == (True, 0)


def test_closing_the_reader_from_another_thread_while_lookups_run_ends_them_cleanly(
    tmp_path: Path,
) -> None:
    """A shutdown on another thread meets no read half done: rows, then the closed error."""
    path = tmp_path / "ots.sqlite3"
    sqlite_file(path, *range(100))
    reader = SqliteReader(str(path))
    looked = threading.Event()
    outcomes: list[object] = []

    async def look() -> None:
        while True:
            try:
                rows = await reader.lookup("SELECT x FROM t WHERE x = ?", [7])
            except sqlite3.OperationalError as exc:
                outcomes.append(str(exc))
                return
            outcomes.append(rows[0]["x"])
            looked.set()

    thread = threading.Thread(target=asyncio.run, args=(look(),))
    thread.start()
    assert looked.wait(10)
    asyncio.run(reader.close())
    thread.join(10)
    assert not thread.is_alive()
    assert set(outcomes[:-1]) == {7}
    assert "closed" in str(outcomes[-1])


def test_lookups_from_two_threads_each_get_their_rows(tmp_path: Path) -> None:
    """Two threads (two event loops) looking up at once: one owns the connection, both get rows."""
    path = tmp_path / "ots.sqlite3"
    sqlite_file(path, *range(100))
    reader = SqliteReader(str(path))
    spy = FetchSpy(reader)
    start = threading.Barrier(2)
    found: dict[int, list[int]] = {}

    async def look(offset: int) -> list[int]:
        values = []
        for value in range(offset, 100, 2):
            rows = await reader.lookup("SELECT x FROM t WHERE x = ?", [value])
            values.append(rows[0]["x"])
            await asyncio.sleep(0)
        return values

    def thread(offset: int) -> None:
        start.wait()
        found[offset] = asyncio.run(look(offset))

    threads = [threading.Thread(target=thread, args=(offset,)) for offset in (0, 1)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    asyncio.run(reader.close())
    assert found == {0: list(range(0, 100, 2)), 1: list(range(1, 100, 2))}
    # One thread read inline, the other on the reader's thread: 50 handed over, not 100.
    assert spy.calls == 50


def test_postgres_pool_skips_the_reset_but_never_leaks_a_transaction(backend: Backend) -> None:
    """Pooled connections skip asyncpg's reset query; a transaction left open is still undone."""
    url = backend.database_url
    if url is None or url.startswith("sqlite://"):
        pytest.skip("the pool is PostgreSQL's")

    async def body(store: SecretStore) -> bool:
        await store.ping()  # the pool opens on first use
        pool = SecretRecord._meta.db._pool
        async with pool.acquire() as conn:
            assert isinstance(conn, db.PooledConnection)
            assert conn.get_reset_query() == ""
            await conn.execute("BEGIN")
            await conn.execute("DELETE FROM receipt")
        async with pool.acquire() as conn:
            in_transaction: bool = conn.is_in_transaction()
        return in_transaction

    sql(
        url,
        "INSERT INTO receipt (lookup, secret_lookup, state, created_at, expires_at, "
        "failed_attempts, purge_at) VALUES ('r', 's', 'pending', 1, 2, 0, 3)",
    )
    assert backend.run(body) is False
    assert sql(url, "SELECT count(*) FROM receipt") == [(1,)]


def _postgres(backend: Backend) -> str:
    url = backend.database_url
    if url is None or url.startswith("sqlite://"):
        pytest.skip("leased connections are PostgreSQL's")
    return url


def _leases(store: SecretStore) -> Leases:
    tortoise_store = store
    assert isinstance(tortoise_store, TortoiseStore)
    postgres = tortoise_store.backend
    assert isinstance(postgres, PostgresBackend)
    return postgres._leases


def test_postgres_statements_that_stand_alone_take_nothing_more_from_the_pool(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement after another reuse one leased connection; racing ones lease a few more."""
    _postgres(backend)
    taken = 0
    acquire = asyncpg.pool.Pool.acquire

    def counted(pool: asyncpg.pool.Pool, *args: Any, **kwargs: Any) -> Any:
        nonlocal taken
        taken += 1
        return acquire(pool, *args, **kwargs)

    monkeypatch.setattr(asyncpg.pool.Pool, "acquire", counted)

    async def body(store: SecretStore) -> tuple[int, int, int, int]:
        nonlocal taken
        await store.ping()  # the pool opens on first use, through Tortoise
        taken = 0
        rows = [await insert(store) for _ in range(10)]  # 20 statements, one at a time
        one_at_a_time = taken
        won = await asyncio.gather(*(claim(store, row) for row in rows))
        pool = SecretRecord._meta.db._pool
        return one_at_a_time, sum(won), _leases(store).held, pool._maxsize

    one_at_a_time, won, held, most = backend.run(body)
    assert one_at_a_time == 1
    assert won == 10
    # Ten at once: more leases, never the pool's last two (the rest went through it).
    assert 1 < held <= most - 2


def test_a_leased_connection_the_server_ended_while_idle_is_replaced_unseen(
    backend: Backend,
) -> None:
    """The server ends every connection between two calls: the next call still works."""
    url = _postgres(backend)

    async def body(store: SecretStore) -> tuple[bool, int]:
        row = await insert(store)
        leases = _leases(store)
        killer = await asyncpg.connect(url)
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        # Wait (bounded) until asyncpg has seen its idle connection end.
        for _ in range(100):
            if leases._idle[0][0]._con is None:
                break
            await asyncio.sleep(0.05)
        found = await store.find_live(row.lookup, NOW)
        return found is not None and await claim(store, row), leases.held

    assert backend.run(body) == (True, 1)


def test_a_failed_statement_gives_its_connection_back_to_the_pool(backend: Backend) -> None:
    """A statement the server refuses: the connection goes back, the next statement works."""
    _postgres(backend)

    async def body(store: SecretStore) -> tuple[int, list[Row], int]:
        rows = [await insert(store)]
        postgres = _leases(store)
        assert postgres.held == 1
        with pytest.raises(asyncpg.DivisionByZeroError):
            await postgres.rows("SELECT 1 / 0", ())
        held = postgres.held
        rows.append(await insert(store))
        return held, rows, postgres.held

    held, rows, held_again = backend.run(body)
    assert (held, len(rows), held_again) == (0, 2, 1)


def test_leases_dropped_while_a_statement_runs_go_back_when_it_ends(backend: Backend) -> None:
    """A recycle (the database was lost) drops idle leases now and the busy one when it ends."""
    url = _postgres(backend)

    async def body(store: SecretStore) -> list[object]:
        row = await insert(store)
        leases = _leases(store)
        blocker = await asyncpg.connect(url)
        try:
            locked = blocker.transaction()
            await locked.start()
            await blocker.execute("SELECT 1 FROM receipt WHERE lookup = $1 FOR UPDATE", row.receipt)
            # Waits for the blocker's row lock, on a lease of its own.
            busy = asyncio.create_task(
                leases.rows(
                    "SELECT lookup FROM receipt WHERE lookup = $1 FOR UPDATE", (row.receipt,)
                )
            )
            await insert(store)  # a second lease, idle once this returns
            seen = [leases.held]
            await leases.drop()
            seen += [busy.done(), leases.held]
            await locked.rollback()
            seen += [await busy, leases.held]
        finally:
            await blocker.close()
        return seen

    assert backend.run(body) == [2, False, 1, [{"lookup": ANY}], 0]


def test_closing_the_store_gives_every_lease_back(backend: Backend) -> None:
    """The pool can close at once after the store: nothing is still lent out."""
    _postgres(backend)

    async def body(store: SecretStore) -> int:
        rows = [await insert(store) for _ in range(3)]
        await asyncio.gather(*(claim(store, row) for row in rows))
        await store.close()
        pool = SecretRecord._meta.db._pool
        # asyncpg's close waits for every connection lent out: without the give-back it hangs.
        await asyncio.wait_for(pool.close(), 5)
        return _leases(store).held

    assert backend.run(body) == 0
