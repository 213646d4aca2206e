"""An in-memory store for fast service tests.

``tests/integration/test_store.py`` holds it to the same contract as the real one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from ots.domain import (
    STATE_AFTER,
    ClientTotals,
    Destruction,
    Event,
    Failure,
    NewSecret,
    Receipt,
    State,
    StoredSecret,
    StoredTotals,
    Transition,
)
from ots.errors import UnavailableError

V = TypeVar("V")


@dataclass
class _ReceiptRow:
    secret_lookup: str
    receipt: Receipt
    purge_at: int


class MemoryStore:
    """``SecretStore`` in dictionaries; every method is atomic (it never awaits midway).

    ``down = True`` makes every call raise ``UnavailableError``, like a lost database.
    """

    def __init__(self) -> None:
        """Start empty and up."""
        self.secrets: dict[str, StoredSecret] = {}
        self.receipts: dict[str, _ReceiptRow] = {}
        # Each secret's quota tag, by its lookup (kept while the secret is).
        self.quota_tags: dict[str, str | None] = {}
        self.down = False
        self.calls = 0
        self._ids = itertools.count(1)

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise UnavailableError

    async def insert_secret(self, new: NewSecret) -> Transition:
        """Store an encrypted secret and its pending receipt together: its ``created``."""
        self._call()
        if new.lookup in self.secrets or new.receipt_lookup in self.receipts:
            raise AssertionError("lookups are unique")
        self.secrets[new.lookup] = StoredSecret(
            next(self._ids), new.encrypted, new.created_at, new.expires_at
        )
        self.quota_tags[new.lookup] = new.quota_tag
        receipt = Receipt(State.PENDING, new.created_at, new.expires_at, None, 0, lookup=new.lookup)
        self.receipts[new.receipt_lookup] = _ReceiptRow(new.lookup, receipt, new.purge_at)
        return Transition(Event.CREATED, (new.lookup,), new.created_at)

    async def find_live(self, lookup: str, now: int) -> StoredSecret | None:
        """Return the unexpired secret stored under ``lookup``, or None."""
        self._call()
        stored = self.secrets.get(lookup)
        return stored if stored is not None and stored.expires_at > now else None

    async def claim(
        self, secret_id: int, lookup: str, now: int, purge_at: int
    ) -> Transition | None:
        """Remove the unexpired secret for its one reader: its ``revealed``, for one caller."""
        self._call()
        stored = self.secrets.get(lookup)
        if stored is None or stored.id != secret_id or stored.expires_at <= now:
            return None
        del self.secrets[lookup]
        return self._end(lookup, Event.REVEALED, now, purge_at, revealed_at=now)

    async def claim_sealed(
        self, lookup: str, key_id: str, verifier: str, now: int, purge_at: int
    ) -> tuple[StoredSecret, Transition] | None:
        """Remove the unexpired sealed secret whose key and verifier match, in one step."""
        self._call()
        stored = self.secrets.get(lookup)
        if (
            stored is None
            or stored.expires_at <= now
            or (stored.encrypted.key_id, stored.encrypted.verifier) != (key_id, verifier)
        ):
            return None
        del self.secrets[lookup]
        return stored, self._end(lookup, Event.REVEALED, now, purge_at, revealed_at=now)

    async def burn(self, receipt_lookup: str, now: int, purge_at: int) -> Transition | None:
        """Remove the unexpired secret behind a receipt: its ``burned``, if this call did."""
        self._call()
        row = self.receipts.get(receipt_lookup)
        stored = None if row is None else self.secrets.get(row.secret_lookup)
        if row is None or stored is None or stored.expires_at <= now:
            return None
        del self.secrets[row.secret_lookup]
        return self._end(row.secret_lookup, Event.BURNED, now, purge_at)

    async def find_receipt(self, receipt_lookup: str, now: int) -> Receipt | None:
        """Return the receipt (stored state) unless it is due for purging."""
        self._call()
        row = self.receipts.get(receipt_lookup)
        return row.receipt if row is not None and row.purge_at > now else None

    async def check(self, lookup: str, now: int) -> int:
        """Mark the receipt opened (first check only); return the wrong-passphrase count."""
        self._call()
        row = self._receipt_of(lookup)
        if row is None:
            return 0
        if row.receipt.opened_at is None and row.receipt.state is State.PENDING:
            row.receipt = replace(row.receipt, opened_at=now)
        return row.receipt.failed_attempts

    async def record_failure(
        self, secret_id: int, lookup: str, now: int, destruction: Destruction
    ) -> Failure | None:
        """Count a wrong passphrase, destroying as told; None if the secret is gone."""
        self._call()
        stored = self.secrets.get(lookup)
        row = self._receipt_of(lookup)
        if stored is None or stored.id != secret_id or stored.expires_at <= now or row is None:
            return None
        count = row.receipt.failed_attempts + 1
        row.receipt = replace(row.receipt, failed_attempts=count)
        if count >= destruction.after_failures:
            del self.secrets[lookup]
            return Failure(count, self._end(lookup, Event.DESTROYED, now, destruction.purge_at))
        return Failure(count, Transition(Event.WRONG_PASSPHRASE, (lookup,), now))

    async def delete_expired_secrets(self, now: int, batch: int) -> Transition:
        """Delete at most ``batch`` expired secrets: the ``expired`` of those removed."""
        self._call()
        lookups = _delete_due(self.secrets, lambda s: s.expires_at <= now, batch)
        return Transition(Event.EXPIRED, tuple(lookups), now)

    async def delete_expired_requests(self, now: int, batch: int) -> tuple[int, Transition]:
        """No requests here: nothing to delete."""
        self._call()
        return 0, Transition(Event.EXPIRED, (), now)

    async def delete_purged_receipts(self, now: int, batch: int) -> int:
        """Delete at most ``batch`` receipts past retention; return how many went."""
        self._call()
        return len(_delete_due(self.receipts, lambda r: r.purge_at <= now, batch))

    async def totals(self, now: int) -> StoredTotals:
        """Return what is stored, for the quota."""
        self._call()
        live = [s for s in self.secrets.values() if s.expires_at > now]
        return StoredTotals(
            live_secrets=len(live),
            ciphertext_bytes=sum(len(s.encrypted.ciphertext) for s in live),
            receipts=len(self.receipts),
        )

    async def client_totals(self, tags: Sequence[str], now: int) -> ClientTotals:
        """Return the unexpired secrets stored under any of the quota ``tags``, and their bytes."""
        self._call()
        owned = [
            stored
            for lookup, stored in self.secrets.items()
            if stored.expires_at > now and self.quota_tags.get(lookup) in tags
        ]
        return ClientTotals(len(owned), sum(len(s.encrypted.ciphertext) for s in owned))

    async def erase_ended(self) -> bool:
        """Nothing lingers in memory: always complete."""
        self._call()
        return True

    async def ping(self) -> None:
        """Raise ``UnavailableError`` while down."""
        self._call()

    def _receipt_of(self, lookup: str) -> _ReceiptRow | None:
        return next((r for r in self.receipts.values() if r.secret_lookup == lookup), None)

    def _end(
        self, lookup: str, event: Event, now: int, purge_at: int, revealed_at: int | None = None
    ) -> Transition:
        # The receipt reads as the domain says after ``event``; no outbox in memory.
        row = self._receipt_of(lookup)
        assert row is not None, "every secret has its receipt"
        row.receipt = replace(row.receipt, state=STATE_AFTER[event], revealed_at=revealed_at)
        row.purge_at = purge_at
        return Transition(event, (lookup,), now)


def _delete_due(rows: dict[str, V], due: Callable[[V], bool], batch: int) -> list[str]:
    keys = [key for key, row in rows.items() if due(row)][:batch]
    for key in keys:
        del rows[key]
    return keys
