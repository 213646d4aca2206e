"""Use cases of ots: create, reveal and check a secret.

Takes plain values, returns plain values, raises ``OtsError``s. The
argon2id key derivation runs on a bounded thread pool, never on the event
loop; decryption happens before the row is claimed, so no lock is held
while argon2id runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ots import crypto, store
from ots.config import Settings
from ots.crypto import Concealed, DecryptionError, KdfParams, Sealed
from ots.erasure import Eraser
from ots.errors import (
    FieldProblem,
    NotFoundError,
    NotPendingError,
    PayloadTooLargeError,
    StorageFullError,
    UnavailableError,
    ValidationFailedError,
    WrongPassphraseError,
)
from ots.kdf import KdfPool
from ots.keyring import KeyFile
from ots.quota import StorageGauge

Clock = Callable[[], float]
log = logging.getLogger("ots.service")
SECRET_PURPOSE: Final = "secret"  # noqa: S105 - a hash domain label, not a password
RECEIPT_PURPOSE: Final = "receipt"
# Secrets leave by being read, burned or expiring; a minute is a fair time to wait.
QUOTA_RETRY_AFTER: Final = 60
EXPIRED: Final = "expired"


@dataclass(frozen=True)
class CreatedSecret:
    """What the creator gets back: both keys and when the secret expires."""

    secret_key: str
    receipt_key: str
    expires_at: int


@dataclass(frozen=True)
class Receipt:
    """The creator's view of a secret: its state and times, never its content."""

    state: str
    created_at: int
    expires_at: int
    revealed_at: int | None
    failed_attempts: int


@dataclass(frozen=True)
class SecretStatus:
    """The recipient's safe view of a pending secret."""

    expires_at: int
    attempts_left: int


class SecretService:
    """The use cases, over ``store`` and ``crypto``."""

    def __init__(self, settings: Settings, clock: Clock, kdf: KdfPool, keys: KeyFile) -> None:
        """Bind the service to its settings, clock, bounded KDF pool and server keyring."""
        self._settings = settings
        self._clock = clock
        self._kdf = kdf
        self._keys = keys
        self._usage = StorageGauge()
        self._eraser = Eraser(store.erase_ended)
        self._last_sweep: int | None = None

    async def close(self) -> None:
        """Finish what must not wait for a later moment: erasing secrets that ended."""
        await self._eraser.close()

    def now(self) -> int:
        """Return the current time in whole epoch seconds, from the injected clock."""
        return int(self._clock())

    async def create_secret(
        self, secret: str, passphrase: Concealed, ttl: int | None
    ) -> CreatedSecret:
        """Seal and store ``secret`` behind ``passphrase`` for ``ttl`` seconds.

        Raises:
            ValidationFailedError: ``ttl`` is out of range.
            PayloadTooLargeError: the secret is over ``max_secret_bytes``.
            OverloadedError: the KDF work waiting in this worker is at its bound.
            StorageFullError: ``max_live_secrets`` secrets, or ``max_stored_bytes``
                bytes, are already stored.
        """
        settings = self._settings
        ttl = settings.default_ttl if ttl is None else ttl
        if not settings.min_ttl <= ttl <= settings.max_ttl:
            raise ValidationFailedError(
                [
                    FieldProblem(
                        "ttl", f"must be between {settings.min_ttl} and {settings.max_ttl} seconds"
                    )
                ]
            )
        plaintext = secret.encode("utf-8")
        if len(plaintext) > settings.max_secret_bytes:
            raise PayloadTooLargeError(
                f"The secret is over {settings.max_secret_bytes} bytes as UTF-8."
            )
        # Both checked before the costly hash: refusing must stay cheap.
        self._kdf.check()
        usage = await self._usage.current(self.now())
        if (
            usage.live_secrets >= settings.max_live_secrets
            or usage.stored_bytes + len(plaintext) > settings.max_stored_bytes
        ):
            raise StorageFullError(retry_after=QUOTA_RETRY_AFTER)
        secret_key = crypto.new_key()
        lookup = crypto.lookup_hash(secret_key, SECRET_PURPOSE)
        kdf = KdfParams(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        salt = crypto.new_salt()
        server_key = self._keys.newest
        key = await self._derive(passphrase, secret_key, salt, kdf, server_key.secret)
        nonce, ciphertext = crypto.seal(key, plaintext, _associated_data(lookup))
        now = self._clock()
        # Rounded up: a secret lives at least ttl seconds, never a fraction less.
        expires_at = math.ceil(now) + ttl
        receipt_key = crypto.new_key()
        await store.insert_secret(
            lookup=lookup,
            receipt_lookup=crypto.lookup_hash(receipt_key, RECEIPT_PURPOSE),
            sealed=Sealed(
                salt=salt, nonce=nonce, ciphertext=ciphertext, kdf=kdf, key_id=server_key.id
            ),
            created_at=int(now),
            expires_at=expires_at,
            # Unread, the receipt ends with the secret's expiry; retention runs from there.
            purge_at=expires_at + settings.receipt_retention,
        )
        self._usage.added(len(ciphertext))
        await self._sweep_if_due()
        return CreatedSecret(secret_key=secret_key, receipt_key=receipt_key, expires_at=expires_at)

    async def reveal_secret(self, secret_key: str, passphrase: Concealed) -> str:
        """Open the secret with ``passphrase`` and destroy it; exactly one caller wins.

        Raises:
            NotFoundError: unknown, read, expired, burned or destroyed.
            WrongPassphraseError: the passphrase does not open it (it stays).
            OverloadedError: the KDF work waiting in this worker is at its bound.
        """
        self._kdf.check()
        lookup, stored, server_key = await self._find(secret_key)
        sealed = stored.sealed
        key = await self._derive(passphrase, secret_key, sealed.salt, sealed.kdf, server_key)
        try:
            plaintext = crypto.unseal(
                key, stored.sealed.nonce, stored.sealed.ciphertext, _associated_data(lookup)
            )
        except DecryptionError:
            max_attempts = self._settings.max_attempts
            now = self.now()
            failures = await store.record_failure(
                stored.id, lookup, now, max_attempts, self._purge_at(now)
            )
            if failures is None:
                raise NotFoundError from None
            if failures >= max_attempts:
                self._ended()
            raise WrongPassphraseError(attempts_left=max(0, max_attempts - failures)) from None
        now = self.now()
        if not await store.claim(stored.id, lookup, now, self._purge_at(now)):
            raise NotFoundError
        self._ended()
        return plaintext.decode("utf-8")

    async def receipt_status(self, receipt_key: str) -> Receipt:
        """Tell the creator what became of the secret.

        Raises:
            NotFoundError: unknown receipt, or purged after its retention.
        """
        now = self.now()
        stored = await self._find_receipt(receipt_key, now)
        state = stored.state
        if state == store.PENDING and stored.expires_at <= now:
            state = EXPIRED
        return Receipt(
            state=state,
            created_at=stored.created_at,
            expires_at=stored.expires_at,
            revealed_at=stored.revealed_at,
            failed_attempts=stored.failed_attempts,
        )

    async def burn_secret(self, receipt_key: str) -> None:
        """Destroy the pending secret behind a receipt.

        Raises:
            NotFoundError: unknown or purged receipt.
            NotPendingError: the secret was already revealed, burned or expired.
        """
        now = self.now()
        if crypto.is_wellformed_key(receipt_key) and await store.burn(
            crypto.lookup_hash(receipt_key, RECEIPT_PURPOSE), now, self._purge_at(now)
        ):
            self._ended()
            return
        raise NotPendingError((await self.receipt_status(receipt_key)).state)

    async def secret_status(self, secret_key: str) -> SecretStatus:
        """Tell whether the secret can still be read; changes nothing.

        Raises:
            NotFoundError: it cannot.
        """
        lookup, stored, _ = await self._find(secret_key)
        failures = await store.failed_attempts(lookup)
        return SecretStatus(
            expires_at=stored.expires_at,
            attempts_left=max(0, self._settings.max_attempts - failures),
        )

    async def database_ready(self) -> bool:
        """Tell whether the database answers a trivial query."""
        try:
            await store.ping()
        except UnavailableError:
            return False
        return True

    async def sweep_expired(self) -> int:
        """Delete expired secrets and receipts past retention in bounded batches; return the count.

        Batches keep each statement short, and the pause between them lets
        requests run, so a million expired rows never stall the service.
        """
        total = 0
        batch = self._settings.sweep_batch
        for sweep in (store.sweep_expired, store.purge_receipts):
            while True:
                removed = await sweep(self.now(), batch)
                total += removed
                if removed < batch:
                    break
                await asyncio.sleep(0)
        if total:
            self._eraser.note_ended()
        return total

    async def _find(self, secret_key: str) -> tuple[str, store.StoredSecret, bytes | None]:
        # Returns the lookup hash too, so callers do not hash the key twice, and the
        # server key it was sealed under (None: sealed before server keys existed).
        if not crypto.is_wellformed_key(secret_key):
            raise NotFoundError
        lookup = crypto.lookup_hash(secret_key, SECRET_PURPOSE)
        stored = await store.find_live(lookup, self.now())
        if stored is None:
            raise NotFoundError
        key_id = stored.sealed.key_id
        if key_id is None:
            return lookup, stored, None
        server_key = self._keys.find(key_id)
        if server_key is None:
            # Its key was removed from the ring: it can never open again (crypto-shredded).
            raise NotFoundError
        return lookup, stored, server_key

    def _ended(self) -> None:
        # A secret left the table: one fewer live, and its bytes to be erased soon.
        self._usage.ended()
        self._eraser.note_ended()

    async def _sweep_if_due(self) -> None:
        # Sweeping that needs no resident task (ASGI, serverless): at most once per
        # OTS_SWEEP_INTERVAL per process, one bounded batch of each kind, riding on
        # a create. A failure here must not fail the create that already succeeded.
        now = self.now()
        if self._last_sweep is not None and now - self._last_sweep < self._settings.sweep_interval:
            return
        self._last_sweep = now
        try:
            if await store.sweep_expired(now, self._settings.sweep_batch):
                self._eraser.note_ended()
            await store.purge_receipts(now, self._settings.sweep_batch)
        except UnavailableError:
            log.warning("opportunistic sweep skipped: database unavailable")

    async def _find_receipt(self, receipt_key: str, now: int) -> store.StoredReceipt:
        if not crypto.is_wellformed_key(receipt_key):
            raise NotFoundError("There is no such receipt.")
        stored = await store.find_receipt(crypto.lookup_hash(receipt_key, RECEIPT_PURPOSE), now)
        if stored is None:
            raise NotFoundError("There is no such receipt.")
        return stored

    def _purge_at(self, ended_at: int) -> int:
        return ended_at + self._settings.receipt_retention

    async def _derive(
        self,
        passphrase: Concealed,
        secret_key: str,
        salt: bytes,
        kdf: KdfParams,
        server_key: bytes | None,
    ) -> bytes:
        # argon2id takes tens of milliseconds of CPU: on the event loop it would stall
        # every other request, so it runs on the bounded KDF pool.
        return await self._kdf.run(
            functools.partial(
                crypto.derive_key, passphrase.reveal(), secret_key, salt, kdf, server_key
            )
        )


def _associated_data(lookup: str) -> bytes:
    # Binds the ciphertext to the row it was written for.
    return f"ots/v1 {SECRET_PURPOSE} {lookup}".encode()
