"""Databases for tests: which kinds run, making and dropping them, and SQL straight to them."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "OTS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
DATABASES = [d for d in os.environ.get("OTS_TEST_DATABASES", "sqlite,postgres").split(",") if d]
# A run without PostgreSQL is the run without services: what needs PostgreSQL skips,
# and so does what needs Redis if Redis is not there. Any run with PostgreSQL (CI's)
# needs Redis too, and fails without it.
SERVICES_REQUIRED = "postgres" in DATABASES


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        return False
    return True


needs_postgres = pytest.mark.skipif(
    not SERVICES_REQUIRED, reason="OTS_TEST_DATABASES leaves PostgreSQL out"
)
needs_redis = pytest.mark.skipif(
    not SERVICES_REQUIRED and not _reachable(REDIS_URL),
    reason="no Redis, and OTS_TEST_DATABASES leaves PostgreSQL out",
)


# For tests that build their own database of each kind.
KINDS = ["sqlite", pytest.param("postgres", marks=needs_postgres)]


def create_postgres_database() -> str:
    """Create an empty PostgreSQL database; return its URL."""
    name = f"ots_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    """Drop a database made by ``create_postgres_database``."""
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def new_database(kind: str, directory: Path) -> str:
    """Return the URL of a new, empty database of ``kind`` (sqlite or postgres)."""
    if kind == "sqlite":
        return f"sqlite://{directory / f'ots-{uuid.uuid4().hex[:8]}.sqlite3'}"
    return create_postgres_database()


def sql(database_url: str, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """Run one statement straight on the database, bypassing ots; return its rows.

    ``?`` placeholders on both kinds (numbered for PostgreSQL here); committed.
    """
    if database_url.startswith("sqlite://"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30)
        try:
            with conn:
                return [tuple(row) for row in conn.execute(statement, args).fetchall()]
        finally:
            conn.close()
    for number in range(1, len(args) + 1):
        statement = statement.replace("?", f"${number}", 1)

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await conn.fetch(statement, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def empty_database(database_url: str) -> None:
    """Delete every secret, receipt, webhook, delivery, token and request: a test owns its rows."""
    for table in ("secret", "receipt", "webhook", "delivery", "token", "request"):
        sql(database_url, f"DELETE FROM {table}")


def count_rows(database_url: str, where: str = "1=1", table: str = "secret") -> int:
    """Count rows of ``table`` straight from the database, bypassing ots."""
    return int(sql(database_url, f"SELECT count(*) FROM {table} WHERE {where}")[0][0])
