"""Gone means gone: forensic copies of the database after secrets end, on both databases.

A real two-worker ``ots serve`` on a fresh database ends four secrets in the
four ways a secret ends (revealed, burned, destroyed by wrong passphrases,
expired and swept), and reveals a fifth, sealed by its client. Then every
database file is copied and searched for the ciphertexts, which the test read
from the rows while they were live.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from ots import crypto, db, keyring, sealed
from ots.config import Settings
from ots.crypto import DecryptionError
from ots.domain import EncryptedSecret, KdfParams
from tests.support import (
    DATABASES,
    create_secret,
    drop_postgres_database,
    eventually,
    free_port,
    make_settings,
    new_database,
    run_cli,
    running_server,
    sql,
)

pytestmark = pytest.mark.slow

# Long enough for SQLite overflow pages; short enough to stay inline (untoasted) on PostgreSQL.
SECRET_CHARS = 1500
ERASED_WITHIN = 10.0
CHEAP = KdfParams(1, 8, 1)


@dataclass
class Victim:
    """A secret the test ends, with what an attacker would need besides the server key."""

    how: str
    secret: str
    secret_key: str
    receipt_key: str
    passphrase: str
    salt: bytes = b""
    nonce: bytes = b""
    ciphertext: bytes = b""
    kdf: KdfParams = CHEAP
    key_id: str = ""
    # Only for a secret its client sealed: what its creator holds.
    by_client: sealed.SealedSecret | None = None

    def chunks(self) -> list[bytes]:
        """Pieces of the ciphertext: a remnant of any part of it is found too."""
        return [self.ciphertext[i : i + 32] for i in range(0, len(self.ciphertext) - 31, 256)]

    def opens(self, ciphertext: bytes, server_key: bytes | None) -> bool:
        """Whether ``ciphertext`` opens with the link, the passphrase and ``server_key``."""
        row = EncryptedSecret(self.salt, self.nonce, ciphertext, self.kdf, self.key_id)
        try:
            if self.by_client is None:
                crypto.open_secret(row, self.passphrase, self.secret_key, server_key)
            elif server_key is None:
                return False
            else:
                crypto.open_client_secret(row, self.secret_key, server_key)
        except DecryptionError:
            return False
        return True


@pytest.fixture(params=DATABASES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Path]]:
    """A fresh, migrated database and its own key file, all made under umask 022."""
    previous = os.umask(0o022)
    url = new_database(request.param, tmp_path)
    settings = make_settings(
        url,
        port=free_port(),
        workers=2,
        sweep_interval=0.5,
        max_attempts=3,
        server_key_file=str(tmp_path / "ots.key"),
    )
    try:
        result = run_cli(settings, "migrate")
        assert result.returncode == 0, result.stderr
        yield settings, tmp_path
    finally:
        os.umask(previous)
        if request.param == "postgres":
            drop_postgres_database(url)


def read_sealed(settings: Settings, victim: Victim) -> None:
    """Copy the live row's sealed fields into ``victim``, bypassing ots."""
    lookup = crypto.secret_lookup(victim.secret_key)
    (row,) = sql(
        settings.database_url,
        "SELECT salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, kdf_parallelism, key_id "
        "FROM secret WHERE lookup = ?",
        lookup,
    )
    victim.salt, victim.nonce, victim.ciphertext = bytes(row[0]), bytes(row[1]), bytes(row[2])
    victim.kdf = KdfParams(row[3], row[4], row[5])
    victim.key_id = row[6]


def sqlite_files(directory: Path) -> dict[str, bytes]:
    """Every file in the database's directory (database, WAL, shm, locks, key)."""
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def postgres_files(settings: Settings) -> dict[str, bytes]:
    """The secret table's relation files (heap and TOAST), the WAL segments and a pg_dump."""

    async def read() -> dict[str, bytes]:
        pg = await asyncpg.connect(settings.database_url)
        try:
            await pg.execute("CHECKPOINT")
            files = {}
            relations = await pg.fetch(
                "SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid = 'secret'::regclass "
                "OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'secret'::regclass)"
            )
            segments = await pg.fetch(
                "SELECT 'pg_wal/' || name FROM pg_ls_waldir() ORDER BY modification DESC LIMIT 4"
            )
            for (path,) in [*relations, *segments]:
                files[path] = await pg.fetchval("SELECT pg_read_binary_file($1)", path)
            return files
        finally:
            await pg.close()

    files = asyncio.run(read())
    dump = subprocess.run(
        ["pg_dump", settings.database_url.replace("postgres://", "postgresql://", 1)],
        capture_output=True,
        check=True,
    )
    files["pg_dump"] = dump.stdout
    return files


def database_files(settings: Settings, directory: Path) -> dict[str, bytes]:
    """A forensic copy of everything the database keeps on disk."""
    return sqlite_files(directory) if settings.is_sqlite else postgres_files(settings)


def found_in(files: dict[str, bytes], victim: Victim) -> list[str]:
    """The files holding any piece of the victim's ciphertext."""
    return [name for name, blob in files.items() if any(c in blob for c in victim.chunks())]


def create_five(base: str, settings: Settings) -> list[Victim]:
    """Create the secrets to end, one per way a secret ends, and one its client sealed."""
    victims = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for how in ("revealed", "burned", "destroyed", "expired"):
            secret = secrets.token_urlsafe(SECRET_CHARS)[:SECRET_CHARS]
            passphrase = secrets.token_urlsafe(12)
            ttl = 2 if how == "expired" else 600
            created = create_secret(http, secret, passphrase, ttl=ttl)
            victim = Victim(how, secret, created.secret_key, created.receipt_key, passphrase)
            read_sealed(settings, victim)
            victims.append(victim)
        secret = secrets.token_urlsafe(SECRET_CHARS)[:SECRET_CHARS]
        made = sealed.seal(secret.encode())
        answer = http.post("/generate", json=made.request()).json()
        victim = Victim("sealed", secret, answer["secret_key"], answer["receipt_key"], "")
        victim.by_client = made
        read_sealed(settings, victim)
        victims.append(victim)
    return victims


def end_five(base: str, settings: Settings, victims: list[Victim]) -> None:
    """Reveal, burn, destroy and let expire (and be swept) the secrets; reveal the sealed one."""
    with httpx.Client(base_url=base, timeout=30) as http:
        revealed, burned, destroyed, expired, by_client = victims
        got = http.post(f"/secrets/{revealed.secret_key}", json={"passphrase": revealed.passphrase})
        assert got.json() == {"secret": revealed.secret}
        assert by_client.by_client is not None
        proof = sealed.derive(by_client.by_client.link_key, None).proof
        got = http.post(f"/secrets/{by_client.secret_key}", json={"proof": sealed.b64encode(proof)})
        assert got.status_code == 200
        assert http.post(f"/receipts/{burned.receipt_key}/burn").status_code == 200
        for _ in range(settings.max_attempts):
            wrong = http.post(f"/secrets/{destroyed.secret_key}", json={"passphrase": "wrong"})
            assert wrong.status_code == 403
        eventually(
            lambda: http.get(f"/receipts/{expired.receipt_key}").json()["state"] == "expired",
            "the receipt reads expired",
        )
        # Expired is not yet swept: wait until the sweeper has deleted the row.
        lookup = crypto.secret_lookup(expired.secret_key)
        eventually(lambda: not _row_exists(settings, lookup), "the expired secret swept")
        for victim in victims:
            response = http.get(f"/secrets/{victim.secret_key}")
            assert response.status_code == 404, victim.how


def _row_exists(settings: Settings, lookup: str) -> bool:
    return bool(sql(settings.database_url, "SELECT 1 FROM secret WHERE lookup = ?", lookup))


def test_ended_secrets_leave_nothing_that_opens(fresh: tuple[Settings, Path]) -> None:
    """After reveal (either mode), burn, destruction, expiry, a database copy opens nothing.

    On SQLite no byte of any ciphertext is left in any file within 10 s. On
    PostgreSQL what lingers (WAL, free space) does not open with the link and
    the passphrase without the server key, and does with it (so the bytes
    found really are the ciphertext).
    """
    settings, directory = fresh
    with running_server(settings, directory / "server.log") as base:
        victims = create_five(base, settings)
        live = database_files(settings, directory)
        end_five(base, settings, victims)
        for victim in victims:
            if settings.is_sqlite:
                # The scan can see a ciphertext: while live, it was on disk.
                assert found_in(live, victim), f"{victim.how}: scan saw nothing while live"

        def scanned() -> dict[str, bytes] | None:
            files = database_files(settings, directory)
            if not settings.is_sqlite or not any(found_in(files, v) for v in victims):
                return files
            return None

        files = eventually(scanned, "no ciphertext left in any SQLite file", ERASED_WITHIN)
    server_key = keyring.load(Path(settings.server_key_file))
    for victim in victims:
        for name in found_in(files, victim):
            blob = files[name]
            start = blob.index(victim.ciphertext[:32])
            copy = blob[start : start + len(victim.ciphertext)]
            assert not victim.opens(copy, None), f"{victim.how} opened from {name} without a key"
            assert not victim.opens(copy, secrets.token_bytes(32)), victim.how
            if copy == victim.ciphertext:
                assert victim.opens(copy, server_key.get(victim.key_id)), victim.how
    if not settings.is_sqlite:
        assert any(found_in(files, v) for v in victims), "PostgreSQL kept no trace at all?"


def test_wrong_passphrases_leave_no_copies_of_the_sealed_row(
    fresh: tuple[Settings, Path],
) -> None:
    """A wrong passphrase does not rewrite the sealed row: PostgreSQL holds one copy of it."""
    settings, directory = fresh
    if settings.is_sqlite:
        pytest.skip("SQLite rewrites pages in place; its erasure is proven above")
    with running_server(settings, directory / "server.log") as base:
        secret = secrets.token_urlsafe(SECRET_CHARS)[:SECRET_CHARS]
        with httpx.Client(base_url=base) as http:
            created = create_secret(http, secret, "right")
        victim = Victim("kept", secret, created.secret_key, "", "right")
        read_sealed(settings, victim)
        for _ in range(settings.max_attempts - 1):
            wrong = httpx.post(f"{base}/secrets/{victim.secret_key}", json={"passphrase": "x"})
            assert wrong.status_code == 403
        files = postgres_files(settings)
    relations = [blob for name, blob in files.items() if name.startswith("base/")]
    assert sum(blob.count(victim.ciphertext) for blob in relations) == 1


def test_database_files_are_private(fresh: tuple[Settings, Path]) -> None:
    """Under umask 022 the database, its WAL, shm, lock files and key file are all mode 0600."""
    settings, directory = fresh
    with running_server(settings, directory / "server.log") as base:
        with httpx.Client(base_url=base) as http:
            create_secret(http)
        made = [p for p in directory.iterdir() if p.name != "server.log"]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in made}
    assert "ots.key" in modes
    if settings.is_sqlite:
        name = Path(db.sqlite_path(settings.database_url)).name
        locks = {f"{name}.migrate-lock", f"{name}{db.WRITER_LOCK}"}
        assert {f"{name}-wal", f"{name}-shm", *locks} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
