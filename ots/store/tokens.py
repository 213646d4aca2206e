"""The API tokens' room: the ``token`` table, and the receipts a token holder may list and burn.

Every read and write here is one statement, written once for both databases
(``TortoiseStore.read`` / ``write`` run it each database's way, through the
same error translation, and on SQLite through the group commit). Burning a
listed secret is the receipt's burn (``TortoiseStore.burn``): one way to end a
secret, whoever asks.
"""

from __future__ import annotations

from typing import Any, Final

from ots.domain import Notify, Receipt
from ots.models import ReceiptRecord, TokenRecord
from ots.store import backend, sql
from ots.store.backend import Row
from ots.store.facade import TortoiseStore
from ots.tokens import NewToken, Token, TokenLimits

TOKEN_COLUMNS: Final = sql.columns(TokenRecord)
TOKEN_READ: Final = ("id", *TOKEN_COLUMNS)
# A listed receipt: its id (what the holder names it by) and what a receipt shows.
LISTED_READ: Final = ("id", *sql.RECEIPT_READ)

INSERT_TOKEN: Final = sql.insert(TokenRecord, TOKEN_COLUMNS, returning="id")
FIND_TOKEN: Final = sql.statement(sql.select(TokenRecord, TOKEN_READ) + " WHERE id = %s")
ALL_TOKENS: Final = sql.statement(sql.select(TokenRecord, TOKEN_READ) + " ORDER BY id")
REVOKE_TOKEN: Final = sql.statement(
    "UPDATE token SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL RETURNING id"
)
# Coarse on purpose: one write per token per period, not one per request.
TOUCH_TOKEN: Final = sql.statement(
    "UPDATE token SET last_used_at = %s WHERE id = %s "
    "AND (last_used_at IS NULL OR last_used_at < %s)"
)
# A page of one token's receipts, newest first, after a cursor (the last id seen).
LISTED: Final = sql.statement(
    sql.select(ReceiptRecord, LISTED_READ)
    + " WHERE token_id = %s AND id < %s AND purge_at > %s ORDER BY id DESC LIMIT %s"
)
LISTED_LOOKUP: Final = sql.statement(
    "SELECT lookup FROM receipt WHERE id = %s AND token_id = %s AND purge_at > %s"
)
WEBHOOKS_OF: Final = sql.WEBHOOKS_OF
# Where a first page starts: above any id either database gives.
FIRST_PAGE: Final = 2**63 - 1


class TokenStore:
    """The ``token`` table and a token's own receipts, over the store's one-statement calls."""

    def __init__(self, store: TortoiseStore) -> None:
        """Run every statement through ``store``."""
        self._store = store

    async def add(self, new: NewToken) -> Token:
        """Store a new token; return it with the id the database gave."""
        row = {
            "name": new.name,
            "key_id": new.key_id,
            "digest": new.digest,
            "created_at": new.created_at,
            "expires_at": new.expires_at,
            "last_used_at": None,
            "revoked_at": None,
            "rate_limit": new.limits.rate_limit,
            "max_bytes": new.limits.max_bytes,
        }
        rows = await self._store.write(INSERT_TOKEN, sql.ordered(TOKEN_COLUMNS, row))
        return Token(
            id=int(rows[0]["id"]),
            name=new.name,
            key_id=new.key_id,
            digest=new.digest,
            created_at=new.created_at,
            expires_at=new.expires_at,
            last_used_at=None,
            revoked_at=None,
            limits=new.limits,
        )

    async def find(self, token_id: int) -> Token | None:
        """Return the token with ``token_id``, whatever its state; None if there is none."""
        rows = await self._store.read(FIND_TOKEN, (token_id,))
        return _token(rows[0]) if rows else None

    async def all(self) -> list[Token]:
        """Return every token, oldest first."""
        return [_token(row) for row in await self._store.read(ALL_TOKENS, ())]

    async def revoke(self, token_id: int, now: int) -> bool:
        """Revoke the token for good; False if there is no such token, or it was revoked."""
        return bool(await self._store.write(REVOKE_TOKEN, (now, token_id)))

    async def touch(self, token_id: int, now: int, every: int) -> None:
        """Note the token used at ``now``, unless that was noted less than ``every`` ago."""
        await self._store.write(TOUCH_TOKEN, (now, token_id, now - every))

    async def listed(
        self, token_id: int, before: int | None, limit: int, now: int
    ) -> list[tuple[int, Receipt]]:
        """Return up to ``limit`` of the token's receipts (newest first), with their ids.

        ``before`` is the cursor: the last id of the previous page (None: the
        first page). A receipt past its retention is no longer listed.
        """
        start = FIRST_PAGE if before is None else before
        rows = await self._store.read(LISTED, (token_id, start, now, limit))
        lookups = [str(row["secret_lookup"]) for row in rows]
        events: dict[str, str] = {}
        for chunk in backend.chunks(lookups):
            webhooks = await self._store.read(sql.render(WEBHOOKS_OF, count=len(chunk)), chunk)
            events.update((str(w["secret_lookup"]), str(w["events"])) for w in webhooks)
        return [
            (int(row["id"]), backend.receipt(row, _subscribed(events.get(row["secret_lookup"]))))
            for row in rows
        ]

    async def receipt_lookup(self, token_id: int, receipt_id: int, now: int) -> str | None:
        """Return the lookup of receipt ``receipt_id``; None unless it is the token's."""
        rows = await self._store.read(LISTED_LOOKUP, (receipt_id, token_id, now))
        return str(rows[0]["lookup"]) if rows else None


def _token(row: Row) -> Token:
    return Token(
        id=int(row["id"]),
        name=str(row["name"]),
        key_id=str(row["key_id"]),
        digest=str(row["digest"]),
        created_at=int(row["created_at"]),
        expires_at=_optional(row["expires_at"]),
        last_used_at=_optional(row["last_used_at"]),
        revoked_at=_optional(row["revoked_at"]),
        limits=TokenLimits(row["rate_limit"], _optional(row["max_bytes"])),
    )


def _subscribed(events: str | None) -> Notify | None:
    # A listed secret's subscription: its events (its deliveries are on its receipt).
    return None if events is None else backend.notify(events, ())


def _optional(value: Any) -> int | None:
    return None if value is None else int(value)
