"""Every rule of the service, over the in-memory store: no database, milliseconds each."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import pytest

from ots import crypto, keyring, sealed
from ots.admission import CLIENT_SHARE_USED
from ots.crypto import Concealed
from ots.domain import ClientSealed, CreatedSecret, State, Swept
from ots.errors import (
    NotFoundError,
    NotPendingError,
    OverloadedError,
    PayloadTooLargeError,
    StorageFullError,
    ValidationFailedError,
    WrongModeError,
    WrongPassphraseError,
)
from ots.events import EventLog
from ots.kdf import KdfPool
from ots.maintenance import SWEEP_REST, Maintenance
from ots.policy import Policy
from ots.service import WRONG_PROOF, SecretService
from ots.wiring import sweeping_of
from tests.fakes import MemoryStore
from tests.support import FakeClock, make_settings

T = TypeVar("T")
PASS = Concealed("right")
WRONG = Concealed("wrong")
# Quota keys of two clients, as the handler makes them.
ALICE = "ip:192.0.2.1"
BOB = "ip:2001:db8:1:2::/64"


class RecordingPool(KdfPool):
    """A KDF pool of one thread that notes which thread ran each job."""

    def __init__(self, capacity: int) -> None:
        """Admit ``capacity`` jobs in all (0: full from the start)."""
        super().__init__(threads=1, queue=capacity - 1)
        self.threads: list[int] = []

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on the pool, recording the thread it runs on."""

        def recorded() -> T:
            self.threads.append(threading.get_ident())
            return job()

        return await super().run(recorded)


class World:
    """A service and its chores over a fake store, a fake clock and a real (cheap) KDF pool.

    The sweep's rests are recorded, never slept: each batch takes one second
    of the fake ``timer``.
    """

    def __init__(
        self,
        tmp_path: Path,
        capacity: int = 4,
        *,
        sweep_on_create: bool = False,
        **overrides: object,
    ) -> None:
        """Build it; ``overrides`` are settings, ``sweep_on_create`` as under ASGI."""
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.kdf = RecordingPool(capacity)
        path = tmp_path / "ots.key"
        ring, _ = keyring.ensure(path)
        self.keys = keyring.KeyFile(path, ring)
        settings = make_settings("sqlite://unused", **overrides)
        self.rests: list[float] = []
        ticks = itertools.count()
        events = EventLog()
        self.maintenance = Maintenance(
            self.store,
            events,
            sweeping_of(settings, sweep_on_create),
            clock=self.clock,
            sleep=self._rest,
            timer=lambda: float(next(ticks)),
        )
        self.service = SecretService(
            Policy.of(settings),
            self.store,
            self.kdf,
            self.keys,
            maintenance=self.maintenance,
            events=events,
            clock=self.clock,
        )

    async def _rest(self, seconds: float) -> None:
        self.rests.append(seconds)

    def run(self, work: Awaitable[T]) -> T:
        """Run one use case to its end."""

        async def main() -> T:
            return await work

        return asyncio.run(main())

    def create(
        self, secret: str = "s", ttl: int | None = None, client: str | None = ALICE
    ) -> CreatedSecret:
        """Store ``secret`` behind the right passphrase, counted against ``client``."""
        return self.run(self.service.create_secret(secret, PASS, ttl, quota_key=client))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh world per test."""
    made = World(tmp_path)
    yield made
    made.kdf.shutdown()


class TestCreate:
    """create_secret."""

    def test_default_ttl_and_rounding_up(self, world: World) -> None:
        """No ttl means OTS_DEFAULT_TTL; a fractional now rounds up, never shortening a life."""
        world.clock.now = 1000.25
        created = world.create()
        assert created.expires_at == 1001 + 604800
        assert created.secret_key != created.receipt_key

    @pytest.mark.parametrize("ttl", [0, -5, 2592001], ids=["zero", "negative", "over-max"])
    def test_ttl_out_of_bounds_is_refused_before_any_work(self, world: World, ttl: int) -> None:
        """A ttl outside OTS_MIN_TTL..OTS_MAX_TTL is 422 on the ttl field; nothing is stored."""
        with pytest.raises(ValidationFailedError) as caught:
            world.create(ttl=ttl)
        assert [d.field for d in caught.value.details] == ["ttl"]
        assert (world.store.calls, world.kdf.threads) == (0, [])

    def test_size_limit_is_in_utf8_bytes(self, tmp_path: Path) -> None:
        """OTS_MAX_SECRET_BYTES counts UTF-8 bytes: exactly the limit passes, one more does not."""
        world = World(tmp_path, max_secret_bytes=4)
        world.create("éé")
        with pytest.raises(PayloadTooLargeError):
            world.create("ééx")

    def test_live_secret_quota(self, tmp_path: Path) -> None:
        """At OTS_MAX_LIVE_SECRETS a create is 507 with a minute's Retry-After."""
        world = World(tmp_path, max_live_secrets=2, client_share=Fraction(1))
        world.create()
        world.create()
        with pytest.raises(StorageFullError) as caught:
            world.create()
        assert caught.value.retry_after == 60

    def test_byte_quota(self, tmp_path: Path) -> None:
        """OTS_MAX_STORED_BYTES counts ciphertexts and 512 bytes per secret and per receipt."""
        world = World(tmp_path, max_stored_bytes=2 * (1016 + 1024) + 5)
        world.create("x" * 1000)
        world.create("x" * 1000)
        with pytest.raises(StorageFullError):
            world.create("x" * 10)

    def test_overload_is_refused_before_the_store(self, tmp_path: Path) -> None:
        """With the KDF pool full, create and reveal are 503 overloaded and touch nothing."""
        world = World(tmp_path, capacity=0)
        with pytest.raises(OverloadedError):
            world.create()
        with pytest.raises(OverloadedError):
            world.run(world.service.reveal_secret("A" * 32, PASS))
        assert world.store.calls == 0

    def test_nothing_readable_is_stored(self, world: World) -> None:
        """The store receives a ciphertext, lookups and the newest server key's id only."""
        created = world.create("plain words")
        (lookup, stored), *_ = world.store.secrets.items()
        assert lookup == crypto.secret_lookup(created.secret_key)
        assert b"plain words" not in stored.encrypted.ciphertext
        assert stored.encrypted.key_id == world.keys.newest.id
        assert created.receipt_key not in repr(world.store.receipts)


class TestReveal:
    """reveal_secret and secret_status."""

    def test_reveals_once(self, world: World) -> None:
        """The right passphrase reveals; the second time it is gone; the receipt says when."""
        created = world.create("hello")
        world.clock.advance(5)
        assert world.run(world.service.reveal_secret(created.secret_key, PASS)) == "hello"
        with pytest.raises(NotFoundError):
            world.run(world.service.reveal_secret(created.secret_key, PASS))
        receipt = world.run(world.service.receipt_status(created.receipt_key))
        assert (receipt.state, receipt.revealed_at) == (State.REVEALED, int(world.clock.now))

    def test_wrong_passphrases_count_down_then_destroy_as_burned(self, world: World) -> None:
        """Each wrong passphrase costs an attempt; the last destroys it; the receipt: burned."""
        created = world.create()
        left = []
        for _ in range(5):
            with pytest.raises(WrongPassphraseError) as caught:
                world.run(world.service.reveal_secret(created.secret_key, WRONG))
            left.append(caught.value.attempts_left)
        assert left == [4, 3, 2, 1, 0]
        with pytest.raises(NotFoundError):
            world.run(world.service.reveal_secret(created.secret_key, PASS))
        receipt = world.run(world.service.receipt_status(created.receipt_key))
        assert (receipt.state, receipt.failed_attempts) == (State.BURNED, 5)

    def test_status_shows_attempts_left_and_changes_nothing(self, world: World) -> None:
        """The safe GET tells attempts left and expiry, and reads nothing out."""
        created = world.create(ttl=600)
        with pytest.raises(WrongPassphraseError):
            world.run(world.service.reveal_secret(created.secret_key, WRONG))
        status = world.run(world.service.secret_status(created.secret_key))
        assert (status.attempts_left, status.expires_at) == (4, created.expires_at)
        assert world.run(world.service.reveal_secret(created.secret_key, PASS)) == "s"

    def test_expired_is_refused_before_any_sweep(self, world: World) -> None:
        """At expires_at the secret is gone for every use case; the receipt reads expired."""
        created = world.create(ttl=60)
        world.clock.advance(60)
        assert world.store.secrets, "not swept yet"
        for use in (
            world.service.reveal_secret(created.secret_key, PASS),
            world.service.secret_status(created.secret_key),
        ):
            with pytest.raises(NotFoundError):
                world.run(use)
        receipt = world.run(world.service.receipt_status(created.receipt_key))
        assert receipt.state is State.EXPIRED

    @pytest.mark.parametrize("key", ["", "short", "a" * 200, "bad/alphabet" * 3])
    def test_malformed_keys_are_404_without_a_lookup(self, world: World, key: str) -> None:
        """A key ots cannot have made is refused before the store is asked."""
        for use in (
            world.service.reveal_secret(key, PASS),
            world.service.secret_status(key),
            world.service.receipt_status(key),
        ):
            with pytest.raises(NotFoundError):
                world.run(use)
        assert world.store.calls == 0

    def test_removed_server_key_shreds(self, world: World, tmp_path: Path) -> None:
        """A secret sealed under a key removed from the ring can never open again: 404."""
        created = world.create()
        old = world.keys.newest.id
        keyring.rotate(tmp_path / "ots.key")
        keyring.remove(tmp_path / "ots.key", old)
        # As a restarted replica does: the ring is read afresh, without the old key.
        world.keys = keyring.KeyFile(tmp_path / "ots.key", keyring.load(tmp_path / "ots.key"))
        world.service = SecretService(
            Policy.of(make_settings("sqlite://unused")),
            world.store,
            world.kdf,
            world.keys,
            maintenance=world.maintenance,
            events=EventLog(),
            clock=world.clock,
        )
        with pytest.raises(NotFoundError):
            world.run(world.service.reveal_secret(created.secret_key, PASS))

    def test_argon2_runs_on_the_pool_not_the_loop(self, world: World) -> None:
        """Create and reveal each derive the key once, on the KDF pool's thread."""
        created = world.create()
        world.run(world.service.reveal_secret(created.secret_key, PASS))
        assert len(world.kdf.threads) == 2
        assert threading.get_ident() not in world.kdf.threads


class TestBurn:
    """burn_secret."""

    def test_burns_a_pending_secret(self, world: World) -> None:
        """A burn destroys it; the key is 404 and the receipt burned."""
        created = world.create()
        world.run(world.service.burn_secret(created.receipt_key))
        with pytest.raises(NotFoundError):
            world.run(world.service.reveal_secret(created.secret_key, PASS))
        assert world.run(world.service.receipt_status(created.receipt_key)).state is State.BURNED

    @pytest.mark.parametrize("ending", ["revealed", "burned", "expired"])
    def test_an_ended_secret_cannot_be_burned(self, world: World, ending: str) -> None:
        """Burning what already ended is 409 carrying how it ended."""
        created = world.create(ttl=60)
        if ending == "revealed":
            world.run(world.service.reveal_secret(created.secret_key, PASS))
        elif ending == "burned":
            world.run(world.service.burn_secret(created.receipt_key))
        else:
            world.clock.advance(60)
        with pytest.raises(NotPendingError) as caught:
            world.run(world.service.burn_secret(created.receipt_key))
        assert caught.value.state is State(ending)

    def test_unknown_and_purged_receipts_are_404(self, world: World) -> None:
        """An unknown receipt, or one past OTS_RECEIPT_RETENTION, is 404 for burn and receipt."""
        created = world.create(ttl=60)
        world.clock.advance(60 + 604800)
        for key in (crypto.new_key(), created.receipt_key):
            for use in (world.service.burn_secret(key), world.service.receipt_status(key)):
                with pytest.raises(NotFoundError):
                    world.run(use)


class TestChores:
    """Sweeping (resident, and riding on creates) and the database check."""

    def test_sweep_removes_expired_secrets_and_old_receipts(self, tmp_path: Path) -> None:
        """Expired secrets go first, in batches; receipts go once past retention."""
        world = World(tmp_path, sweep_batch=2)
        for _ in range(3):
            world.create(ttl=60)
        kept = world.create(ttl=3600)
        world.clock.advance(60)
        swept = world.run(world.maintenance.sweep())
        assert (swept.secrets, swept.receipts) == (3, 0)
        assert world.run(world.service.secret_status(kept.secret_key)).attempts_left == 5
        world.clock.advance(604800)
        assert world.run(world.maintenance.sweep()) == Swept(secrets=1, receipts=3)

    def test_sweep_rests_between_batches(self, tmp_path: Path) -> None:
        """After each full batch the sweep yields SWEEP_REST times the batch's time; none after."""
        world = World(tmp_path, sweep_batch=2)
        for _ in range(5):
            world.create(ttl=60)
        world.clock.advance(60)
        swept = world.run(world.maintenance.sweep())
        assert swept.secrets == 5
        # Batches of 2, 2 and 1, a second each: two full batches rest, the last one does not.
        assert world.rests == [SWEEP_REST, SWEEP_REST]
        assert SWEEP_REST >= 1

    def test_creates_never_sweep_beside_a_resident_sweeper(self, tmp_path: Path) -> None:
        """Under ots serve the resident sweeper sweeps: a create never runs a batch itself."""
        world = World(tmp_path, sweep_interval=100.0)
        world.create(ttl=60)
        world.clock.advance(3600)
        world.create()
        assert len(world.store.secrets) == 2, "the expired secret was swept by a create"

    def test_creates_sweep_once_per_interval(self, tmp_path: Path) -> None:
        """Without a resident task (ASGI), a create sweeps at most once per OTS_SWEEP_INTERVAL."""
        world = World(tmp_path, sweep_on_create=True, sweep_interval=100.0)
        world.create(ttl=60)
        world.clock.advance(60)
        world.create()  # within the interval: the expired one stays
        assert len(world.store.secrets) == 2
        world.clock.advance(40)
        world.create()
        assert len(world.store.secrets) == 2

    def test_database_ready_follows_the_store(self, world: World) -> None:
        """/health's question: True while the store answers, False when it does not."""
        assert world.run(world.maintenance.database_ready()) is True
        world.store.down = True
        assert world.run(world.maintenance.database_ready()) is False


# Each secret of 1000 bytes has 1016 bytes of ciphertext; an eighth of 18000 bytes is 2250:
# room for two such secrets per client, not three (and for all of them in the total).
SHARE = {"max_secret_bytes": 1000, "max_stored_bytes": 18000, "client_share": Fraction(1, 8)}
# A third of six live secrets: two per client, of any size.
COUNT_SHARE = {"max_live_secrets": 6, "client_share": Fraction(1, 3)}


class TestClientShare:
    """client_share: a client's part of the live secrets and of the stored bytes."""

    @pytest.mark.parametrize(
        ("share", "secret"), [(SHARE, "x" * 1000), (COUNT_SHARE, "x")], ids=["bytes", "secrets"]
    )
    def test_a_full_share_refuses_that_client_only(
        self, tmp_path: Path, share: dict[str, object], secret: str
    ) -> None:
        """Past its share a client gets 507 with a minute's Retry-After; another still creates."""
        world = World(tmp_path, **share)
        world.create(secret)
        world.create(secret)
        with pytest.raises(StorageFullError) as caught:
            world.create(secret)
        assert (caught.value.message, caught.value.retry_after) == (CLIENT_SHARE_USED, 60)
        world.create(secret, client=BOB)
        world.create(secret, client=None)
        assert len(world.store.secrets) == 4

    @pytest.mark.parametrize("ending", ["revealed", "burned", "destroyed", "expired"])
    def test_a_secret_that_ends_frees_its_share(self, tmp_path: Path, ending: str) -> None:
        """Read, burned, destroyed by wrong passphrases or expired: its bytes count no more."""
        world = World(tmp_path, **SHARE)
        first = world.create("x" * 1000, ttl=60)
        world.create("x" * 1000, ttl=120)
        with pytest.raises(StorageFullError):
            world.create("x" * 1000)
        end_secret(world, first, ending)
        world.create("x" * 1000)

    def test_a_rotation_forgives_nothing(self, tmp_path: Path) -> None:
        """Secrets tagged under an older server key still count against their client."""
        world = World(tmp_path, **SHARE)
        world.create("x" * 1000)
        world.create("x" * 1000)
        keyring.rotate(world.keys.path)
        world.keys.ring = keyring.load(world.keys.path)
        with pytest.raises(StorageFullError):
            world.create("x" * 1000)
        tags = set(world.store.quota_tags.values())
        assert tags == {crypto.quota_tag(ALICE, world.keys.ring.keys[0].secret)}

    def test_a_burst_in_one_worker_gets_its_share_only(self, tmp_path: Path) -> None:
        """Creates still hashing count: of five at once, two fit, whatever the store saw yet."""
        world = World(tmp_path, **SHARE)

        async def burst() -> list[object]:
            creates = [
                world.service.create_secret("x" * 1000, PASS, None, quota_key=ALICE)
                for _ in range(5)
            ]
            return await asyncio.gather(*creates, return_exceptions=True)

        outcomes = world.run(burst())
        assert [type(o).__name__ for o in outcomes].count("StorageFullError") == 3
        assert len(world.store.secrets) == 2
        # Nothing stays held once the creates are done: room again after one ends.
        world.run(
            world.service.burn_secret(
                next(o for o in outcomes if isinstance(o, CreatedSecret)).receipt_key
            )
        )
        world.create("x" * 1000)

    def test_the_store_keeps_a_keyed_tag_never_the_client(self, world: World) -> None:
        """The row gets the HMAC of the quota key under the newest server key, nothing more."""
        world.create(client=ALICE)
        world.create(client=None)
        assert sorted(world.store.quota_tags.values(), key=str) == sorted(
            [crypto.quota_tag(ALICE, world.keys.newest.secret), None], key=str
        )

    def test_a_whole_share_turns_it_off_and_stores_no_tag(self, tmp_path: Path) -> None:
        """With client_share 1 no client is counted, and no row carries a tag."""
        world = World(tmp_path, max_secret_bytes=1000, client_share=Fraction(1))
        for _ in range(5):
            world.create("x" * 1000)
        assert set(world.store.quota_tags.values()) == {None}

    def test_the_global_quota_is_still_the_last_line(self, tmp_path: Path) -> None:
        """Clients within their shares are refused once max_stored_bytes is used."""
        world = World(tmp_path, **{**SHARE, "max_stored_bytes": 4500, "client_share": 0.5})
        world.create("x" * 1000)
        world.create("x" * 1000, client=BOB)
        with pytest.raises(StorageFullError) as caught:
            world.create("x" * 1000, client="ip:198.51.100.7")
        assert caught.value.message != CLIENT_SHARE_USED


def end_secret(world: World, created: CreatedSecret, ending: str) -> None:
    """End ``created`` the way ``ending`` names."""
    service = world.service
    if ending == "revealed":
        world.run(service.reveal_secret(created.secret_key, PASS))
    elif ending == "burned":
        world.run(service.burn_secret(created.receipt_key))
    elif ending == "destroyed":
        for _ in range(5):
            with pytest.raises(WrongPassphraseError):
                world.run(service.reveal_secret(created.secret_key, WRONG))
    else:
        world.clock.advance(60)


def sealed_world(tmp_path: Path, **overrides: object) -> tuple[World, sealed.SealedSecret, str]:
    """A world holding one secret its client sealed; the creator's view and its key."""
    world = World(tmp_path, **overrides)
    made = sealed.seal(b"sealed")
    client = ClientSealed(made.ciphertext, json.dumps(made.envelope.to_json()))
    created = world.run(world.service.create_sealed(client, made.verifier, None, quota_key=ALICE))
    return world, made, created.secret_key


def test_sealed_mode_runs_no_hash_and_is_never_overloaded(tmp_path: Path) -> None:
    """A full KDF pool refuses passphrase creates, not sealed ones, which run no argon2id."""
    world, made, key = sealed_world(tmp_path, capacity=0)
    with pytest.raises(OverloadedError):
        world.create()
    proof = sealed.derive(made.link_key, None).proof
    opened = world.run(world.service.reveal_sealed(key, proof))
    assert opened.ciphertext == made.ciphertext
    assert sealed.Envelope.from_json(json.loads(opened.envelope)) == made.envelope
    assert world.kdf.threads == []


def test_sealed_wrong_proof_and_wrong_mode(tmp_path: Path) -> None:
    """A wrong proof counts as a wrong passphrase; the other mode's credential counts nothing."""
    world, _, key = sealed_world(tmp_path)
    with pytest.raises(WrongPassphraseError) as wrong:
        world.run(world.service.reveal_sealed(key, bytes(32)))
    assert (wrong.value.attempts_left, wrong.value.message) == (4, WRONG_PROOF)
    with pytest.raises(WrongModeError):
        world.run(world.service.reveal_secret(key, PASS))
    plain = world.create()
    with pytest.raises(WrongModeError):
        world.run(world.service.reveal_sealed(plain.secret_key, bytes(32)))
    assert world.run(world.service.secret_status(key)).attempts_left == 4
    assert world.run(world.service.secret_status(plain.secret_key)).attempts_left == 5


def test_a_sealed_secret_opens_in_one_step_and_after_a_rotation_too(tmp_path: Path) -> None:
    """The right proof takes the row in one store call; an older key's secret is looked up first."""
    world, made, key = sealed_world(tmp_path)
    older = sealed.seal(b"under the older key")
    client = ClientSealed(older.ciphertext, json.dumps(older.envelope.to_json()))
    created = world.run(world.service.create_sealed(client, older.verifier, None, quota_key=ALICE))
    proof = sealed.derive(made.link_key, None).proof
    calls = world.store.calls
    assert world.run(world.service.reveal_sealed(key, proof)).ciphertext == made.ciphertext
    assert world.store.calls - calls == 1, "one statement: no lookup before the take"
    keyring.rotate(world.keys.path)
    world.keys.ring = keyring.load(world.keys.path)
    older_proof = sealed.derive(older.link_key, None).proof
    opened = world.run(world.service.reveal_sealed(created.secret_key, older_proof))
    assert opened.ciphertext == older.ciphertext
    with pytest.raises(NotFoundError):
        world.run(world.service.reveal_sealed(created.secret_key, older_proof))


def test_a_sealed_ciphertext_must_hold_a_secret(tmp_path: Path) -> None:
    """A ciphertext of the tag alone holds nothing: refused before anything is stored."""
    world = World(tmp_path)
    client = ClientSealed(bytes(sealed.TAG_BYTES), "{}")
    with pytest.raises(ValidationFailedError):
        world.run(world.service.create_sealed(client, bytes(32), None, quota_key=ALICE))
    assert world.run(world.store.totals(0)).live_secrets == 0
