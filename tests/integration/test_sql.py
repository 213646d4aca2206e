"""The store's SQL and the models held together: every statement prepares on the models' schema.

The schema here is generated from ``ots.models`` by Tortoise itself (not by
the migrations), on each database kind. A column renamed or dropped in the
models and still named by a statement of ``ots.store.sql`` fails here; the
row values the store writes are checked against the models' column lists.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.backends.asyncpg.client import AsyncpgDBClient

from ots import db
from ots.domain import EncryptedSecret, Event, NewSecret
from ots.models import SecretRecord
from ots.store import postgres, sql
from ots.store import sqlite as sqlite_backend
from ots.store.backend import delivery_values, receipt_values, secret_values
from tests.support import KINDS, drop_postgres_database, new_database


def models_schema(url: str) -> None:
    """Create the tables of ``ots.models`` in the empty database at ``url``, from the models."""

    async def generate() -> None:
        config = db.tortoise_config(url)
        config["apps"][db.APP]["models"] = ["ots.models"]
        await Tortoise.init(config=config)
        try:
            await Tortoise.generate_schemas()
        finally:
            await Tortoise.close_connections()

    asyncio.run(generate())


def unprepared(url: str, kind: str, templates: Sequence[str]) -> list[str]:
    """Prepare each of ``templates`` on ``url`` the way ``kind``'s backend writes it.

    Returns:
        The statements that failed, each with its error.
    """
    failed: list[str] = []
    if kind == "sqlite":
        conn = sqlite3.connect(db.sqlite_path(url))
        try:
            for template in templates:
                text = sqlite_backend.lite(template, 2)
                try:
                    # EXPLAIN compiles the statement against the schema and runs nothing.
                    conn.execute(f"EXPLAIN {text}", [None] * text.count("?"))
                except sqlite3.Error as exc:
                    failed.append(f"{text}: {exc}")
        finally:
            conn.close()
        return failed

    async def prepare() -> None:
        conn = await asyncpg.connect(url)
        try:
            for template in templates:
                text = postgres.pg(template, 2)
                try:
                    await conn.prepare(text)
                except asyncpg.PostgresError as exc:
                    failed.append(f"{text}: {exc}")
        finally:
            await conn.close()

    asyncio.run(prepare())
    return failed


@pytest.fixture(params=KINDS)
def schema(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """An empty database of each kind holding the models' tables: (kind, URL)."""
    url = new_database(request.param, tmp_path)
    models_schema(url)
    yield request.param, url
    if request.param == "postgres":
        drop_postgres_database(url)


def test_every_statement_prepares_on_the_models_schema(schema: tuple[str, str]) -> None:
    """Each statement of the store names only tables and columns the models have."""
    kind, url = schema
    assert len(sql.templates(kind)) > 20
    assert unprepared(url, kind, sql.templates(kind)) == []


def test_a_column_the_models_lack_fails_to_prepare(schema: tuple[str, str]) -> None:
    """The check has teeth: a statement naming a column no model has is caught."""
    kind, url = schema
    stale = "DELETE FROM secret WHERE expires_in <= %s"
    assert len(unprepared(url, kind, [stale])) == 1


def test_rows_written_match_the_models_columns() -> None:
    """The values of each new row line up with the models' columns, one for one."""
    encrypted = EncryptedSecret(b"s", b"n", b"c", None, "k1", "v")
    new = NewSecret("l" * 64, "r" * 64, encrypted, 1, 2, 3)
    assert len(secret_values(new)) == len(sql.SECRET_COLUMNS)
    assert len(receipt_values(new)) == len(sql.RECEIPT_COLUMNS)
    assert len(delivery_values("l" * 64, Event.BURNED, 1)) == len(sql.DELIVERY_COLUMNS)
    with pytest.raises(KeyError):
        sql.ordered(("lookup", "expires_at"), {"lookup": "l", "expires_in": 2})
    with pytest.raises(KeyError):
        sql.columns(SecretRecord, without={"expires_in"})


def test_tortoise_still_has_what_the_postgres_adapter_uses() -> None:
    """The one private API the store uses (expiring pooled connections) is still there."""
    expire = getattr(AsyncpgDBClient, "_expire_connections", None)
    assert expire is not None and inspect.iscoroutinefunction(expire), (
        "tortoise changed: adapt ots.store.postgres.expire_connections"
    )
