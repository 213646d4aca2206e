"""Use cases of ots: create, reveal, check, receipt and burn.

Every rule lives here (TTL bounds, size, quota, attempts, expiry, what a
burn may end); the store it receives only executes what was decided. Takes
plain values (its ``Policy``, not the whole settings), returns the values of
``ots.domain``, raises ``OtsError``s. The argon2id work runs on a bounded
thread pool, never on the event loop. What each write committed goes to the
event log and to the worker's chores (``ots.maintenance``), which also
sweep; nothing else is recorded here.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Sequence
from typing import Final, Protocol

from ots import crypto
from ots import sealed as sealed_format
from ots.admission import Admission
from ots.asking import RequestRoom
from ots.crypto import Concealed, DecryptionError
from ots.domain import (
    ClientSealed,
    ClientTotals,
    CreatedSecret,
    Destruction,
    EncryptedSecret,
    Event,
    Failure,
    NewSecret,
    Receipt,
    SecretStatus,
    State,
    StoredSecret,
    Subscription,
    Transition,
)
from ots.errors import (
    FieldProblem,
    NotFoundError,
    NotPendingError,
    ValidationFailedError,
    WrongModeError,
    WrongPassphraseError,
)
from ots.events import EventLog
from ots.kdf import KdfPool
from ots.keyring import KeyFile, ServerKey
from ots.maintenance import Clock, Maintenance
from ots.policy import Policy
from ots.quota import ClientShares
from ots.ssrf import Resolver, system_resolver
from ots.tokens import Token

NO_SUCH_RECEIPT: Final = "There is no such receipt."
# A sealed secret's wrong proof is a wrong passphrase on the wire (same code, same count).
WRONG_PROOF: Final = "The passphrase or the link is wrong."
# Sent the other mode's body: told so, and nothing is counted.
WRONG_MODE_SEALED: Final = (
    "This secret was sealed by its client: reveal it with its link (ots reveal LINK)."
)
WRONG_MODE_PLAIN: Final = "This secret was stored with a passphrase: send the passphrase."


class SecretStore(Protocol):
    """What the service needs from storage; ``ots.store.TortoiseStore`` is the real one.

    Every method takes ``now`` from the service's clock and raises
    ``UnavailableError`` when the storage cannot answer. Each one is atomic.
    """

    async def insert_secret(self, new: NewSecret) -> Transition:
        """Store an encrypted secret and its pending receipt together: its ``created``."""

    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None."""

    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Remove the unexpired secret for its one reader: its ``revealed``, for one caller."""

    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Remove the unexpired sealed secret whose key and verifier match, in one statement."""

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Remove the unexpired secret behind a receipt: its ``burned``, if this call did."""

    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Return the receipt (stored state) unless it is due for purging."""

    async def check(self, lookup: str, now: int) -> int:
        """Mark the receipt of ``lookup`` opened (first check only); return its failures."""

    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Count a wrong passphrase, destroying as told; None if the secret is gone."""

    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Return the unexpired secrets stored under any of the quota ``tags``, and their bytes."""


class SecretService:
    """The use cases: every rule of ots is decided here, over a store and ``crypto``."""

    def __init__(
        self,
        policy: Policy,
        store: SecretStore,
        kdf: KdfPool,
        keys: KeyFile,
        *,
        maintenance: Maintenance,
        events: EventLog,
        clock: Clock = time.time,
        resolver: Resolver = system_resolver,
        requests: RequestRoom | None = None,
    ) -> None:
        """Bind the service to its policy, store, bounded KDF pool, server keyring and clock.

        ``events`` receives every committed event, ``maintenance`` what each
        write committed (it keeps the usage estimate and erases what ended);
        ``resolver`` resolves webhook hosts (tests inject one); ``requests``
        is the request room, whose open requests a burn by receipt ends too.
        """
        self._policy = policy
        self._store = store
        self._kdf = kdf
        self._keys = keys
        self._maintenance = maintenance
        self._events = events
        self._clock = clock
        self._requests = requests
        # Creates in flight per client are held over the store's count, in one place
        # for this worker's creates, requests and answers.
        self.admission = Admission(
            policy,
            kdf,
            keys,
            maintenance,
            ClientShares(store.client_totals),
            clock=clock,
            resolver=resolver,
        )

    def now(self) -> int:
        """Return the current time in whole epoch seconds, from the injected clock."""
        return int(self._clock())

    async def create_secret(
        self,
        secret: str,
        passphrase: Concealed,
        ttl: int | None,
        notify: Subscription | None = None,
        *,
        quota_key: str | None,
        token: Token | None = None,
    ) -> CreatedSecret:
        """Seal and store ``secret`` behind ``passphrase`` for ``ttl`` seconds.

        With ``notify``, its events are also delivered to a webhook; the
        answer then carries the webhook's signing secret. The secret counts
        against the share of the client that ``quota_key`` names (an opaque
        string, e.g. ``ip:192.0.2.7``; None: no client's). Made with ``token``,
        it is listed for the token's holder and counts against the token's own
        byte quota too.

        Raises:
            ValidationFailedError: ``ttl`` is out of range, or ``notify`` is
                refused (webhooks off, or a URL the SSRF guard refuses).
            PayloadTooLargeError: the secret is over ``max_secret_bytes``.
            OverloadedError: the KDF work waiting in this worker is at its bound.
            StorageFullError: ``max_live_secrets`` secrets, or ``max_stored_bytes``
                bytes, are already stored; or this client's share of either, or
                the token's own byte quota.
        """
        plaintext = secret.encode("utf-8")
        ttl = await self.admission.admit(
            ttl,
            len(plaintext),
            f"The secret is over {self._policy.max_secret_bytes} bytes as UTF-8.",
            notify,
            hashes=True,
        )
        secret_key = crypto.new_key()
        kdf = self._policy.kdf
        async with self.admission.client_share(quota_key, len(plaintext), token) as quota_tag:
            server_key = self._keys.newest
            encrypted = await self._kdf.run(
                functools.partial(
                    crypto.seal_secret,
                    plaintext,
                    passphrase.reveal(),
                    secret_key,
                    kdf,
                    server_key.secret,
                    server_key.id,
                )
            )
            created = await self._insert(
                secret_key, encrypted, ttl, notify, server_key, quota_tag, token
            )
        await self._maintenance.after_create()
        return created

    async def create_sealed(
        self,
        client: ClientSealed,
        verifier: bytes,
        ttl: int | None,
        notify: Subscription | None = None,
        *,
        quota_key: str | None,
        token: Token | None = None,
    ) -> CreatedSecret:
        """Store a secret its client sealed (``docs/sealed-v1.md``) for ``ttl`` seconds.

        The server never sees the plaintext: it seals the client's ciphertext
        and envelope again under its own key and keeps only a keyed digest of
        ``verifier`` (an HMAC under the server key). No argon2id runs here,
        so this is never ``overloaded``. It counts against ``quota_key``'s
        share, and ``token``'s, as for ``create_secret``.

        Raises:
            ValidationFailedError: ``ttl`` or ``notify`` as for ``create_secret``,
                or a ciphertext too short to hold a secret.
            PayloadTooLargeError: the plaintext inside is over ``max_secret_bytes``.
            StorageFullError: as for ``create_secret``.
        """
        plaintext_bytes = len(client.ciphertext) - sealed_format.TAG_BYTES
        if plaintext_bytes < 1:
            raise ValidationFailedError(
                [FieldProblem("ciphertext", "is too short to hold a secret (AES-GCM tag only)")]
            )
        ttl = await self.admission.admit(
            ttl,
            plaintext_bytes,
            f"The ciphertext holds over {self._policy.max_secret_bytes} bytes of secret.",
            notify,
            hashes=False,
        )
        secret_key = crypto.new_key()
        async with self.admission.client_share(quota_key, plaintext_bytes, token) as quota_tag:
            server_key = self._keys.newest
            # AES-GCM and HKDF over at most a few hundred KiB: microseconds, fine on the loop.
            encrypted = crypto.seal_client_secret(
                client, verifier, secret_key, server_key.secret, server_key.id
            )
            created = await self._insert(
                secret_key, encrypted, ttl, notify, server_key, quota_tag, token
            )
        await self._maintenance.after_create()
        return created

    async def _insert(
        self,
        secret_key: str,
        encrypted: EncryptedSecret,
        ttl: int,
        notify: Subscription | None,
        server_key: ServerKey,
        quota_tag: str | None,
        token: Token | None,
    ) -> CreatedSecret:
        # Stores an encrypted secret with its receipt (and webhook, sealed under the same
        # server key as the secret) and reports it created. The caller sweeps if due,
        # after letting go of the client's share: the row now counts it.
        now = self._clock()
        # Rounded up: a secret lives at least ttl seconds, never a fraction less.
        expires_at = math.ceil(now) + ttl
        receipt_key = crypto.new_key()
        lookup = crypto.secret_lookup(secret_key)
        signing_secret, webhook = crypto.new_webhook(
            notify, server_key.secret, server_key.id, lookup
        )
        created = await self._store.insert_secret(
            NewSecret(
                lookup=lookup,
                receipt_lookup=crypto.receipt_lookup(receipt_key),
                encrypted=encrypted,
                created_at=int(now),
                expires_at=expires_at,
                # Unread, the receipt ends with the secret's expiry; retention runs from there.
                purge_at=self._policy.purge_at(expires_at),
                webhook=webhook,
                quota_tag=quota_tag,
                token_id=None if token is None else token.id,
            )
        )
        self._committed(created)
        self._maintenance.stored(len(encrypted.ciphertext))
        return CreatedSecret(
            secret_key=secret_key,
            receipt_key=receipt_key,
            expires_at=expires_at,
            webhook_secret=signing_secret,
        )

    async def reveal_secret(self, secret_key: str, passphrase: Concealed) -> str:
        """Open the secret with ``passphrase`` and destroy it; exactly one caller wins.

        Decryption happens before the row is claimed, so no lock is held while
        argon2id runs.

        Raises:
            NotFoundError: unknown, read, expired, burned or destroyed.
            WrongPassphraseError: the passphrase does not open it (it stays).
            WrongModeError: its client sealed it; nothing was counted.
            OverloadedError: the KDF work waiting in this worker is at its bound.
        """
        self._kdf.check()
        lookup, stored, server_key = await self._find(secret_key)
        if stored.encrypted.by_client:
            raise WrongModeError(WRONG_MODE_SEALED)
        try:
            # argon2id takes tens of milliseconds of CPU: on the event loop it would
            # stall every other request, so it runs on the bounded KDF pool.
            plaintext = await self._kdf.run(
                functools.partial(
                    crypto.open_secret,
                    stored.encrypted,
                    passphrase.reveal(),
                    secret_key,
                    server_key,
                )
            )
        except DecryptionError:
            raise await self._wrong_passphrase(stored.id, lookup) from None
        await self._claim(stored.id, lookup)
        return plaintext.decode("utf-8")

    async def reveal_sealed(self, secret_key: str, proof: bytes) -> ClientSealed:
        """Release a client-sealed secret to the holder of its access proof; exactly once.

        A wrong proof counts as a wrong passphrase does (403, destroyed at
        ``max_attempts``); nothing slow runs, so this is never ``overloaded``.

        Raises:
            NotFoundError: unknown, read, expired, burned or destroyed.
            WrongModeError: the secret was stored with a passphrase (nothing counted).
            WrongPassphraseError: the proof is wrong (the secret stays).
        """
        verifier = sealed_format.verifier_of(proof)
        if crypto.is_wellformed_key(secret_key):
            # The right proof for a secret sealed under the newest server key (all of
            # them but those from before a rotation): one statement takes the row.
            newest, now = self._keys.newest, self.now()
            taken = await self._store.claim_sealed(
                crypto.secret_lookup(secret_key),
                newest.id,
                crypto.keyed_verifier(verifier, newest.secret),
                now,
                self._policy.purge_at(now),
            )
            if taken is not None:
                row, revealed = taken
                self._committed(revealed)
                return crypto.open_client_secret(row.encrypted, secret_key, newest.secret)
        # Anything else is looked at, to say what it is: unknown or ended, another
        # mode, a wrong proof (counted), or an older server key's secret.
        lookup, stored, server_key = await self._find(secret_key)
        stored_verifier = stored.encrypted.verifier
        if stored_verifier is None or server_key is None:
            raise WrongModeError(WRONG_MODE_PLAIN)
        if not crypto.verifier_matches(stored_verifier, verifier, server_key):
            raise await self._wrong_passphrase(stored.id, lookup, WRONG_PROOF)
        opened = crypto.open_client_secret(stored.encrypted, secret_key, server_key)
        await self._claim(stored.id, lookup)
        return opened

    async def receipt_status(self, receipt_key: str) -> Receipt:
        """Tell the creator what became of the secret.

        Raises:
            NotFoundError: unknown receipt, or purged after its retention.
        """
        if not crypto.is_wellformed_key(receipt_key):
            raise NotFoundError(NO_SUCH_RECEIPT)
        return await self._receipt(crypto.receipt_lookup(receipt_key))

    async def _receipt(self, receipt_lookup: str) -> Receipt:
        now = self.now()
        receipt = await self._store.find_receipt(receipt_lookup, now)
        if receipt is None:
            raise NotFoundError(NO_SUCH_RECEIPT)
        return self.as_of(receipt, now)

    @staticmethod
    def as_of(receipt: Receipt, now: int) -> Receipt:
        """Return ``receipt`` as it reads at ``now``: a pending one past its expiry is expired.

        Expiry is decided by the clock, not by the sweeper having run.
        """
        if receipt.state in (State.PENDING, State.REQUESTED) and receipt.expires_at <= now:
            return dataclasses.replace(receipt, state=State.EXPIRED)
        if receipt.state is State.PENDING and receipt.answered_at is not None:
            # A request's answer, waiting for its asker.
            return dataclasses.replace(receipt, state=State.ANSWERED)
        return receipt

    async def burn_secret(self, receipt_key: str) -> None:
        """Destroy the pending secret behind a receipt.

        Raises:
            NotFoundError: unknown or purged receipt.
            NotPendingError: the secret was already revealed, burned or expired.
        """
        if not crypto.is_wellformed_key(receipt_key):
            raise NotFoundError(NO_SUCH_RECEIPT)
        await self.burn_receipt(crypto.receipt_lookup(receipt_key))

    async def burn_receipt(self, receipt_lookup: str) -> None:
        """Destroy the pending secret behind the receipt stored under ``receipt_lookup``.

        Raises:
            NotFoundError: no such receipt, or purged.
            NotPendingError: the secret was already revealed, burned or expired.
        """
        now = self.now()
        purge_at = self._policy.purge_at(now)
        burned = await self._store.burn(receipt_lookup, now, purge_at)
        if burned is None and self._requests is not None:
            # A request not answered yet: it goes, and a later answer finds nothing. An
            # answer that lands between the two statements is a secret: burned again.
            burned = await self._requests.burn(receipt_lookup, now, purge_at)
            if burned is None:
                burned = await self._store.burn(receipt_lookup, now, purge_at)
        if burned is not None:
            self._committed(burned)
            return
        raise NotPendingError((await self._receipt(receipt_lookup)).state)

    async def secret_status(self, secret_key: str) -> SecretStatus:
        """Tell whether the secret can still be read; consumes and counts nothing.

        The first check marks the receipt opened (``opened_at``), so that a
        creator can see a link that was opened but not revealed.

        Raises:
            NotFoundError: it cannot.
        """
        lookup, stored, _ = await self._find(secret_key)
        now = self.now()
        # The one write a check makes: the receipt's opened_at, the first time only.
        failures = await self._store.check(lookup, now)
        self._committed(Transition(Event.CHECKED, (lookup,), now))
        return SecretStatus(
            expires_at=stored.expires_at,
            attempts_left=max(0, self._policy.max_attempts - failures),
        )

    async def _find(self, secret_key: str) -> tuple[str, StoredSecret, bytes | None]:
        # Returns the lookup hash too, so callers do not hash the key twice, and the
        # server key it was sealed under (None: sealed before server keys existed).
        if not crypto.is_wellformed_key(secret_key):
            raise NotFoundError
        lookup = crypto.secret_lookup(secret_key)
        stored = await self._store.find_live(lookup, self.now())
        if stored is None:
            raise NotFoundError
        key_id = stored.encrypted.key_id
        if key_id is None:
            return lookup, stored, None
        server_key = self._keys.find(key_id)
        if server_key is None:
            # Its key was removed from the ring: it can never open again (crypto-shredded).
            raise NotFoundError
        return lookup, stored, server_key

    async def _wrong_passphrase(
        self, secret_id: int, lookup: str, message: str | None = None
    ) -> Exception:
        # Counts the failure and returns what the caller must be told.
        max_attempts = self._policy.max_attempts
        now = self.now()
        failure = await self._store.record_failure(
            secret_id, lookup, now, Destruction(max_attempts, self._policy.purge_at(now))
        )
        if failure is None:
            return NotFoundError()
        self._committed(failure.transition)
        return WrongPassphraseError(max(0, max_attempts - failure.failed_attempts), message)

    async def _claim(self, secret_id: int, lookup: str) -> None:
        # Takes the secret for this reader, or raises NotFoundError: another reader won.
        now = self.now()
        revealed = await self._store.claim(secret_id, lookup, now, self._policy.purge_at(now))
        if revealed is None:
            raise NotFoundError
        self._committed(revealed)

    def _committed(self, transition: Transition) -> None:
        # What the store committed (or, for ``checked``, what was read), handed on as
        # it is: the audit log, the metrics and the delivery loop's wake-up; then the
        # chores (a secret that left the table is uncounted and erased soon).
        self._events.record(transition)
        self._maintenance.committed(transition)
