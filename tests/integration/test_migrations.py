"""Aerich histories: both dialects reach the same schema; concurrent starters migrate once."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from ots import db
from tests.support import (
    create_postgres_database,
    drop_postgres_database,
    make_settings,
    run_cli,
    settings_env,
)

Schema = dict[str, object]


def sqlite_schema(url: str) -> Schema:
    """Tables with their columns, and indexes by the columns they cover."""
    conn = sqlite3.connect(db.sqlite_path(url))
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        schema: Schema = {}
        for table in tables:
            columns = sorted(r[1] for r in conn.execute(f'PRAGMA table_info("{table}")'))
            indexes = set()
            for _, name, unique, *_ in conn.execute(f'PRAGMA index_list("{table}")'):
                cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")'))
                indexes.add((cols, bool(unique)))
            schema[table] = (columns, sorted(indexes))
        return schema
    finally:
        conn.close()


def postgres_schema(url: str) -> Schema:
    """The same description, read from PostgreSQL's catalogue."""

    async def read() -> Schema:
        conn = await asyncpg.connect(url)
        try:
            schema: Schema = {}
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
            for (table,) in tables:
                columns = sorted(
                    r[0]
                    for r in await conn.fetch(
                        "SELECT column_name FROM information_schema.columns WHERE table_name=$1",
                        table,
                    )
                )
                rows = await conn.fetch(
                    """
                    SELECT ix.indisunique, array_agg(a.attname ORDER BY k.ord)
                    FROM pg_index ix
                    JOIN pg_class t ON t.oid = ix.indrelid
                    CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                    WHERE t.relname = $1 AND NOT ix.indisprimary
                    GROUP BY ix.indexrelid, ix.indisunique
                    """,
                    table,
                )
                indexes = sorted((tuple(r[1]), bool(r[0])) for r in rows)
                schema[table] = (columns, indexes)
            return schema
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.fixture
def postgres_url() -> object:
    """A fresh, empty PostgreSQL database."""
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def test_both_histories_reach_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    """Migrating empty SQLite and PostgreSQL gives the same tables, columns and indexes."""
    sqlite_url = f"sqlite://{tmp_path / 'schema.sqlite3'}"
    for url in (sqlite_url, postgres_url):
        result = run_cli(make_settings(url), "migrate")
        assert result.returncode == 0, result.stderr
    assert sqlite_schema(sqlite_url) == postgres_schema(postgres_url)
    assert "secret" in sqlite_schema(sqlite_url)


def test_histories_have_the_same_versions() -> None:
    """Every migration exists for both dialects, under the same name."""
    root = db.migrations_root()
    names = {
        dialect: sorted(p.name for p in (root / dialect / "models").glob("*.py"))
        for dialect in ("sqlite", "postgres")
    }
    assert names["sqlite"] == names["postgres"]
    assert names["sqlite"]


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    """A second migrate applies nothing and succeeds."""
    settings = make_settings(f"sqlite://{tmp_path / 'twice.sqlite3'}")
    first = run_cli(settings, "migrate")
    second = run_cli(settings, "migrate")
    assert first.returncode == second.returncode == 0
    assert "applied migrations" in first.stderr
    assert "applied migrations" not in second.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_cold_starts_migrate_once(tmp_path: Path, kind: str) -> None:
    """Four processes migrating one empty database at once all succeed; it is migrated once."""
    url = (
        f"sqlite://{tmp_path / 'cold.sqlite3'}" if kind == "sqlite" else create_postgres_database()
    )
    try:
        env = settings_env(make_settings(url))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "ots.cli", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, outputs
        assert sum("applied migrations" in err for _, err in outputs) == 1
    finally:
        if kind == "postgres":
            drop_postgres_database(url)
