"""The store's SQL text, one copy for both databases, named after the models' metadata.

Statements are written with ``%s`` marks; each backend numbers them its own
way once (``$1``, ``$2`` … for asyncpg, ``?`` for SQLite). Table names and
the column lists of inserts and reads come from the Tortoise models
(``ots.models``), so a column added there is written and read without a
second edit here; a renamed one makes ``ordered`` raise at the first insert
and, for every statement below, ``tests/integration/test_sql.py`` prepares
the text against a schema generated from the models on both databases.

Two parts are filled in per call or per database: ``{marks}``, an ``IN``
list of as many marks as values; and ``{locking}``, PostgreSQL's
``FOR UPDATE SKIP LOCKED`` (SQLite has one writer at a time and no such
clause). Table and column names are ours, never client text; every value is
a parameter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from tortoise.models import Model

from ots.models import DeliveryRecord, ReceiptRecord, RequestRecord, SecretRecord, WebhookRecord

# Lookups per IN (...) list: far below any database's parameter limit (SQLite: 32,766).
LOOKUPS_PER_QUERY: Final = 1000
# PostgreSQL's clause for a subquery that picks rows to change: other workers skip them.
SKIP_LOCKED: Final = " FOR UPDATE SKIP LOCKED"

DIALECTS: Final = ("sqlite", "postgres")
_TEMPLATES: list[tuple[str, tuple[str, ...]]] = []


def columns(model: type[Model], *, without: Collection[str] = ()) -> tuple[str, ...]:
    """Return the model's columns in declaration order, without its key and ``without``."""
    meta = model._meta
    unknown = set(without) - set(meta.fields_db_projection.values())
    if unknown:
        raise KeyError(f"{meta.db_table} has no column {sorted(unknown)}")
    return tuple(
        column
        for field, column in meta.fields_db_projection.items()
        if field != meta.pk_attr and column not in without
    )


def ordered(names: Sequence[str], row: Mapping[str, object]) -> list[object]:
    """Return ``row``'s values in the order of ``names``, which must be exactly its keys.

    Raises:
        KeyError: the row and the column list disagree (a column renamed or added
            in the models, and not in the code that builds the row).
    """
    if set(row) != set(names):
        raise KeyError(f"row columns {sorted(row)} are not {sorted(names)}")
    return [row[name] for name in names]


def statement(template: str, *, dialects: tuple[str, ...] = DIALECTS) -> str:
    """Register ``template`` as a statement of the store on ``dialects``; return it.

    The registry is what the test prepares against the models' schema.
    """
    _TEMPLATES.append((template, dialects))
    return template


def templates(dialect: str) -> tuple[str, ...]:
    """Return every statement registered for ``dialect``, as written (nothing filled in)."""
    return tuple(template for template, dialects in _TEMPLATES if dialect in dialects)


def render(template: str, *, count: int = 0, locking: str = "") -> str:
    """Fill ``{marks}`` with ``count`` marks and ``{locking}`` with ``locking``."""
    return template.format(marks=", ".join(["%s"] * count), locking=locking)


def insert(model: type[Model], names: Sequence[str], returning: str = "") -> str:
    """Return an ``INSERT`` of one row of ``model`` into ``names`` (``RETURNING returning``)."""
    table = model._meta.db_table
    marks = ", ".join(["%s"] * len(names))
    tail = f" RETURNING {returning}" if returning else ""
    return statement(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}){tail}")  # noqa: S608


def select(model: type[Model], names: Sequence[str]) -> str:
    """Return the ``SELECT`` list of ``names`` from ``model``'s table (its ``WHERE`` to follow)."""
    return f"SELECT {', '.join(names)} FROM {model._meta.db_table}"  # noqa: S608


SECRET_COLUMNS: Final = columns(SecretRecord)
RECEIPT_COLUMNS: Final = columns(ReceiptRecord)
WEBHOOK_COLUMNS: Final = columns(WebhookRecord)
# What a new outbox row is given; the outcome columns start empty (NULL).
DELIVERY_COLUMNS: Final = columns(
    DeliveryRecord, without={"last_status", "last_error", "delivered_at"}
)
# What a read of a live secret returns (its lookup is the question, its tag is no answer).
SECRET_READ: Final = ("id", *columns(SecretRecord, without={"lookup", "quota_tag"}))
RECEIPT_READ: Final = columns(ReceiptRecord, without={"lookup", "purge_at", "token_id"})
NOTIFICATION_READ: Final = columns(
    DeliveryRecord, without={"secret_lookup", "occurred_at", "next_attempt_at", "lease_until"}
)
LEASED_READ: Final = ("id", "event_id", "secret_lookup", "event", "occurred_at", "attempts")

INSERT_SECRET: Final = insert(SecretRecord, SECRET_COLUMNS)
INSERT_RECEIPT: Final = insert(ReceiptRecord, RECEIPT_COLUMNS)
INSERT_WEBHOOK: Final = insert(WebhookRecord, WEBHOOK_COLUMNS)
INSERT_DELIVERY: Final = insert(DeliveryRecord, DELIVERY_COLUMNS)

FIND_LIVE: Final = statement(
    select(SecretRecord, SECRET_READ) + " WHERE lookup = %s AND expires_at > %s"
)
FIND_RECEIPT: Final = statement(
    select(ReceiptRecord, RECEIPT_READ) + " WHERE lookup = %s AND purge_at > %s"
)
CHECKED: Final = statement(
    "SELECT failed_attempts, opened_at FROM receipt WHERE secret_lookup = %s"
)
# The first status check of a pending secret only: a later check finds opened_at set,
# and a reveal or burn committed since the check's lookup left the receipt not pending.
MARK_OPENED: Final = statement(
    "UPDATE receipt SET opened_at = %s "
    "WHERE secret_lookup = %s AND opened_at IS NULL AND state = %s"
)
SUBSCRIBED: Final = statement("SELECT events FROM webhook WHERE secret_lookup = %s")
NOTIFICATIONS: Final = statement(
    select(DeliveryRecord, NOTIFICATION_READ) + " WHERE secret_lookup = %s ORDER BY id"
)
# The webhooks of a list of secrets: which events each one wants.
WEBHOOKS_OF: Final = statement(
    "SELECT secret_lookup, events FROM webhook WHERE secret_lookup IN ({marks})"
)
SEALED_WEBHOOKS_OF: Final = statement(
    "SELECT secret_lookup, key_id, nonce, sealed FROM webhook WHERE secret_lookup IN ({marks})"
)

# Ending a secret: its row goes, and its receipt says how it ended.
DELETE_SECRET: Final = statement(
    "DELETE FROM secret WHERE id = %s AND expires_at > %s RETURNING lookup"
)
# A sealed secret's reveal in one statement: the row goes only to the holder of its proof
# (its verifier keyed under the row's server key), and comes back to be opened.
DELETE_SEALED: Final = statement(
    "DELETE FROM secret WHERE lookup = %s AND expires_at > %s AND key_id = %s "  # noqa: S608
    f"AND verifier = %s RETURNING lookup, {', '.join(SECRET_READ)}"
)
DELETE_SECRET_OF_RECEIPT: Final = statement(
    "DELETE FROM secret WHERE lookup = (SELECT secret_lookup FROM receipt WHERE lookup = %s) "
    "AND expires_at > %s RETURNING lookup"
)
END_RECEIPT: Final = statement(
    "UPDATE receipt SET state = %s, purge_at = %s, revealed_at = %s WHERE secret_lookup = %s"
)
# One wrong passphrase, counted in the receipt while the secret is pending and unexpired.
COUNT_FAILURE: Final = statement(
    "UPDATE receipt SET failed_attempts = failed_attempts + 1 "
    "WHERE secret_lookup = %s AND state = %s AND expires_at > %s RETURNING failed_attempts"
)
# PostgreSQL: the live secret's row lock, taken before the receipt's (as claim and burn do).
LOCK_LIVE_SECRET: Final = statement(
    "SELECT id FROM secret WHERE id = %s AND expires_at > %s FOR UPDATE", dialects=("postgres",)
)

# A bounded batch (neither database supports DELETE ... LIMIT here) in one statement.
DELETE_EXPIRED: Final = statement(
    "DELETE FROM secret WHERE id IN (SELECT id FROM secret "
    "WHERE expires_at <= %s LIMIT %s{locking}) RETURNING lookup"
)
DELETE_PURGED: Final = statement(
    "DELETE FROM receipt WHERE id IN (SELECT id FROM receipt "
    "WHERE purge_at <= %s LIMIT %s{locking}) RETURNING secret_lookup"
)
# Requests past their expiry, answered or not: an unanswered one leaves nothing behind.
DELETE_EXPIRED_REQUESTS: Final = statement(
    f"DELETE FROM {RequestRecord._meta.db_table} WHERE id IN (SELECT id FROM request "  # noqa: S608
    "WHERE expires_at <= %s LIMIT %s{locking}) RETURNING secret_lookup, answered_at"
)
DELETE_WEBHOOKS_OF: Final = statement("DELETE FROM webhook WHERE secret_lookup IN ({marks})")
DELETE_DELIVERIES_OF: Final = statement("DELETE FROM delivery WHERE secret_lookup IN ({marks})")

ANY_DUE: Final = statement(
    "SELECT id FROM delivery WHERE state = %s AND next_attempt_at <= %s AND lease_until <= %s "
    "LIMIT 1"
)
LEASE: Final = statement(
    "UPDATE delivery SET lease_until = %s, attempts = attempts + 1 WHERE id IN "  # noqa: S608
    "(SELECT id FROM delivery WHERE state = %s AND next_attempt_at <= %s "
    "AND lease_until <= %s ORDER BY id LIMIT %s{locking}) "
    f"RETURNING {', '.join(LEASED_READ)}"
)
RELEASE: Final = statement(
    "UPDATE delivery SET lease_until = 0, next_attempt_at = %s, attempts = attempts - 1 "
    "WHERE id IN ({marks}) AND lease_until = %s AND state = %s"
)
FINISH: Final = statement(
    "UPDATE delivery SET state = %s, next_attempt_at = %s, lease_until = 0, last_status = %s, "
    "last_error = %s, delivered_at = %s WHERE id = %s"
)

# The lengths come from the row headers: neither database reads the ciphertext itself.
# A request not answered yet counts as a live secret (its answer will be one): the
# instance's and each client's count bound the open requests too.
TOTALS: Final = statement(
    "SELECT count(*) + (SELECT count(*) FROM request "
    "WHERE answered_at IS NULL AND expires_at > %s) AS live, "
    "coalesce(sum(length(ciphertext)), 0) AS size, "
    "(SELECT count(*) FROM receipt) AS receipts FROM secret WHERE expires_at > %s"
)
CLIENT_TOTALS: Final = statement(
    "SELECT count(*) + (SELECT count(*) FROM request "
    "WHERE answered_at IS NULL AND expires_at > %s AND quota_tag IN ({marks})) AS live, "
    "coalesce(sum(length(ciphertext)), 0) AS size "
    "FROM secret WHERE quota_tag IN ({marks}) AND expires_at > %s"
)
SELECT_ONE: Final = statement("SELECT 1 AS one")
