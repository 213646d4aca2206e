"""Aerich histories: both dialects reach the same schema; concurrent starters migrate once."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from ots import crypto, db, sealed
from ots.domain import KdfParams
from tests.conftest import Client, MakeClient, NewDatabase
from tests.support import (
    KINDS,
    SERVICES_REQUIRED,
    create_secret,
    make_settings,
    race_cli,
    run_cli,
    server_keys,
    settings_env,
    sql,
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
def postgres_url(new_db: NewDatabase) -> str:
    """A fresh, empty PostgreSQL database."""
    if not SERVICES_REQUIRED:
        pytest.skip("OTS_TEST_DATABASES leaves PostgreSQL out")
    return new_db("postgres")


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


@pytest.mark.parametrize("kind", KINDS)
def test_concurrent_cold_starts_migrate_once(kind: str, new_db: NewDatabase) -> None:
    """Four processes migrating one empty database at once all succeed; it is migrated once."""
    results = race_cli(settings_env(make_settings(new_db(kind))), "migrate", count=4)
    assert [r.returncode for r in results] == [0] * 4, [r.stderr for r in results]
    assert sum("applied migrations" in r.stderr for r in results) == 1


MIGRATE_TO = """
import asyncio, shutil, sys
from pathlib import Path
from aerich import Command
from ots import db

url, target, versions = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
dialect = db.dialect(url)
source = db.migrations_root() / dialect / "models"
(target / "models").mkdir(parents=True)
for version in range(versions):
    (old,) = source.glob(f"{version}_*.py")
    shutil.copy(old, target / "models" / old.name)

async def main():
    command = Command(db.tortoise_config(url), app="models", location=str(target))
    await command.init()
    await command.upgrade(run_in_transaction=True)
    await command.aclose()

asyncio.run(main())
"""


def _migrate_to(url: str, directory: Path, versions: int) -> None:
    """Apply only the first ``versions`` migrations, as an older release would have."""
    subprocess.run(
        [sys.executable, "-c", MIGRATE_TO, url, str(directory), str(versions)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def upgrade(url: str, migration: str) -> str:
    """Migrate ``url`` to the head, checking that ``migration`` was applied; return ``url``."""
    upgraded = run_cli(make_settings(url), "migrate")
    assert upgraded.returncode == 0, upgraded.stderr
    assert migration in upgraded.stderr
    return url


def _insert_old_secret(url: str, secret: str, passphrase: str, failures: int = 0) -> str:
    """Store a secret the way releases before the server key did; return its key."""
    key = crypto.new_key()
    sealed = crypto.seal_secret(secret.encode(), passphrase, key, KdfParams(1, 8, 1), None, None)
    now = int(time.time())
    row = (
        crypto.secret_lookup(key),
        sealed.salt,
        sealed.nonce,
        sealed.ciphertext,
        1,
        8,
        1,
        failures,
        now,
        now + 3600,
    )
    columns = (
        "lookup, salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, kdf_parallelism, "
        "failed_attempts, created_at, expires_at"
    )
    sql(url, f"INSERT INTO secret ({columns}) VALUES ({', '.join('?' * 10)})", *row)
    return key


def _insert_receipt(url: str, secret_key: str, failures: int) -> str:
    """Store the receipt the receipts release kept beside each secret; return its key."""
    receipt_key = crypto.new_key()
    now = int(time.time())
    sql(
        url,
        "INSERT INTO receipt (lookup, secret_lookup, state, created_at, expires_at, "
        "revealed_at, failed_attempts, purge_at) VALUES (?, ?, 'pending', ?, ?, NULL, ?, ?)",
        crypto.receipt_lookup(receipt_key),
        crypto.secret_lookup(secret_key),
        now,
        now + 3600,
        failures,
        now + 7200,
    )
    return receipt_key


@pytest.mark.parametrize("kind", KINDS)
def test_upgrade_keeps_secrets_stored_before_receipts(
    tmp_path: Path, kind: str, new_db: NewDatabase, make_client: MakeClient
) -> None:
    """Secrets stored under the first schema still reveal after the receipts migration."""
    url = new_db(kind)
    _migrate_to(url, tmp_path / "v0", 1)
    assert "receipt" not in (sqlite_schema(url) if kind == "sqlite" else postgres_schema(url))
    kept = _insert_old_secret(url, "from before", "pw")
    guarded = _insert_old_secret(url, "also old", "pw", failures=1)
    client = make_client(upgrade(url, "1_"))
    assert client.get(f"/secrets/{kept}").json["state"] == "pending"
    assert client.reveal(kept, "pw").json == {"secret": "from before"}
    assert client.reveal(kept, "pw").status == 404
    assert client.get(f"/secrets/{guarded}").json["attempts_left"] == 4
    wrong = client.reveal(guarded, "nope")
    assert (wrong.status, wrong.json["attempts_left"]) == (403, 3)
    assert client.reveal(guarded, "pw").json == {"secret": "also old"}
    assert create_secret(client)


@pytest.mark.parametrize("kind", KINDS)
def test_upgrade_keeps_secrets_sealed_without_a_server_key(
    tmp_path: Path, kind: str, new_db: NewDatabase, make_client: MakeClient
) -> None:
    """Secrets (and receipts) of the release before server keys reveal after the upgrade."""
    url = new_db(kind)
    _migrate_to(url, tmp_path / "v1", 2)
    key = _insert_old_secret(url, "sealed by v1", "pw", failures=2)
    receipt = _insert_receipt(url, key, failures=2)
    client = make_client(upgrade(url, "2_"))
    # Receipts from before opened_at (migration 6) read as never opened, until checked.
    assert client.get(f"/receipts/{receipt}").json["opened_at"] is None
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 3
    assert client.reveal(key, "nope").json["attempts_left"] == 2
    assert client.reveal(key, "pw").json == {"secret": "sealed by v1"}
    assert client.get(f"/receipts/{receipt}").json["state"] == "revealed"
    assert client.get(f"/receipts/{receipt}").json["failed_attempts"] == 3
    assert client.get(f"/receipts/{receipt}").json["opened_at"] is not None


def test_postgres_vacuums_ended_secrets_promptly(postgres_url: str) -> None:
    """The secret table (and its TOAST) is autovacuumed as soon as it has one dead tuple."""
    assert run_cli(make_settings(postgres_url), "migrate").returncode == 0

    async def options() -> list[str]:
        pg = await asyncpg.connect(postgres_url)
        try:
            rows = await pg.fetch(
                "SELECT c.reloptions, t.reloptions FROM pg_class c "
                "JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relname = 'secret'"
            )
            return [*rows[0][0], *rows[0][1]]
        finally:
            await pg.close()

    assert sorted(asyncio.run(options())) == sorted(
        2 * ["autovacuum_vacuum_threshold=0", "autovacuum_vacuum_scale_factor=0"]
    )


def _legacy_digest(verifier: bytes) -> str:
    """The verifier as releases before keyed verifiers stored it: a bare hash."""
    return hashlib.sha256(b"ots/v1 verifier\0" + verifier).hexdigest()


def _reveal_sealed(
    client: Client, key: str, secret: sealed.SealedSecret, passphrase: str | None
) -> int:
    """Present the proof for ``key``; return the status."""
    proof = sealed.derive(secret.link_key, passphrase).proof
    status: int = client.post(f"/secrets/{key}", json={"proof": sealed.b64encode(proof)}).status
    return status


@pytest.mark.parametrize("kind", KINDS)
def test_upgrade_keys_legacy_sealed_verifiers(
    kind: str, new_db: NewDatabase, make_client: MakeClient
) -> None:
    """`ots migrate` keys the bare verifier digests of older rows; they still reveal once."""
    url = new_db(kind)
    assert run_cli(make_settings(url), "migrate").returncode == 0
    client = make_client(url)
    made: dict[str, tuple[sealed.SealedSecret, str | None]] = {}
    for passphrase in (None, "pw", "gone"):
        secret = sealed.seal(b"sealed by an older release", passphrase)
        created = client.post("/generate", json=secret.request()).json
        made[created["secret_key"]] = (secret, passphrase)
        lookup = crypto.secret_lookup(created["secret_key"])
        legacy = _legacy_digest(secret.verifier)
        sql(url, "UPDATE secret SET verifier = ? WHERE lookup = ?", legacy, lookup)
        if passphrase == "gone":
            # Sealed under a key since removed: it opens nowhere, and stays as it is.
            sql(url, "UPDATE secret SET key_id = 'removed' WHERE lookup = ?", lookup)
    upgraded = run_cli(make_settings(url), "migrate")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (
        "ots: keyed the access verifiers of 2 sealed secrets under the server key"
        in upgraded.stderr.splitlines()
    )
    server_key = server_keys().newest.secret
    stored = dict(sql(url, "SELECT lookup, verifier FROM secret"))
    for key, (secret, passphrase) in made.items():
        row = stored[crypto.secret_lookup(key)]
        if passphrase == "gone":
            assert row == _legacy_digest(secret.verifier)
        else:
            assert row == crypto.keyed_verifier(secret.verifier, server_key)
            assert row != _legacy_digest(secret.verifier)
    again = run_cli(make_settings(url), "migrate")
    assert again.returncode == 0
    assert "keyed" not in again.stderr
    for key, (secret, passphrase) in made.items():
        if passphrase == "pw":
            assert _reveal_sealed(client, key, secret, "wrong") == 403
        expected = 404 if passphrase == "gone" else 200
        assert _reveal_sealed(client, key, secret, passphrase) == expected


def _insert_sealed_row(url: str, verifier: str, key_id: str) -> str:
    """Store a sealed-mode row with ``verifier`` as it is; return its lookup."""
    lookup = secrets.token_hex(32)
    sql(
        url,
        "INSERT INTO secret (lookup, salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, "
        "kdf_parallelism, key_id, verifier, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, 0, 0, 0, ?, ?, 0, 1)",
        lookup,
        b"s" * 16,
        b"n" * 12,
        b"c" * 32,
        key_id,
        verifier,
    )
    return lookup


@pytest.mark.parametrize("kind", KINDS)
def test_keying_reaches_every_legacy_row_batch_by_batch(kind: str, new_db: NewDatabase) -> None:
    """Batches of 2 over 7 legacy rows key all 7; keyed, odd and keyless rows are left alone."""
    url = new_db(kind)
    assert run_cli(make_settings(url), "migrate").returncode == 0
    ring = server_keys().ring
    server_key = ring.newest
    verifiers = [secrets.token_bytes(32) for _ in range(7)]
    legacy = {_insert_sealed_row(url, _legacy_digest(v), server_key.id): v for v in verifiers}
    keyed = crypto.keyed_verifier(b"k" * 32, server_key.secret)
    left = {
        _insert_sealed_row(url, keyed, server_key.id): keyed,
        _insert_sealed_row(url, "not a digest", server_key.id): "not a digest",
        _insert_sealed_row(url, _legacy_digest(b"x" * 32), "removed"): _legacy_digest(b"x" * 32),
    }

    async def key() -> int:
        context = await db.open_database(make_settings(url))
        try:
            return await db.key_legacy_verifiers(ring, db.dialect(url), batch=2)
        finally:
            await db.close_database(context)

    assert asyncio.run(key()) == 7
    stored = dict(sql(url, "SELECT lookup, verifier FROM secret"))
    for lookup, verifier in legacy.items():
        assert stored[lookup] == crypto.keyed_verifier(verifier, server_key.secret)
    for lookup, value in left.items():
        assert stored[lookup] == value
