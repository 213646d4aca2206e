"""Write the Aerich migration for a model change, for SQLite and PostgreSQL at once.

Usage: ``python -m tests.makemigration NAME`` (PostgreSQL as for the tests,
``OTS_TEST_POSTGRES_URL``). For each dialect it builds a throw-away database
at the current head of ``migrations/<dialect>``, lets Aerich compare it with
``ots.models`` and copies the new file into the history. Aerich keeps
process-wide state, so every step runs in its own process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ots import db
from tests.support import create_postgres_database, drop_postgres_database

# One Aerich step in a fresh process; os._exit because aiosqlite's thread can hang the exit.
STEP = """
import asyncio, os, sys
from aerich import Command
from ots import db

url, location, step = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    command = Command(db.tortoise_config(url), app="models", location=location)
    await command.init()
    if step == "upgrade":
        await command.upgrade(run_in_transaction=True)
    else:
        print(await command.migrate(sys.argv[4]) or "")
    await command.aclose()

asyncio.run(main())
sys.stdout.flush()
os._exit(0)
"""


def _step(url: str, location: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", STEP, url, str(location), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"aerich {args[0]} failed on {url}:\n{result.stderr}")
    return result.stdout.strip()


def make_migration(name: str, dialect: str, scratch: Path) -> list[Path]:
    """Generate ``name`` for one dialect; return the files added to the history."""
    history = db.migrations_root() / dialect / "models"
    location = scratch / dialect
    shutil.copytree(history, location / "models")
    url = (
        f"sqlite://{scratch / 'head.sqlite3'}"
        if dialect == "sqlite"
        else create_postgres_database()
    )
    try:
        _step(url, location, "upgrade")
        _step(url, location, "migrate", name)
    finally:
        if dialect == "postgres":
            drop_postgres_database(url)
    added = []
    for made in sorted((location / "models").glob("*.py")):
        if not (history / made.name).exists():
            shutil.copy(made, history / made.name)
            added.append(history / made.name)
    return added


def main(argv: list[str]) -> int:
    """Generate the migration named ``argv[0]`` for both dialects."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    added: list[Path] = []
    for dialect in ("sqlite", "postgres"):
        with tempfile.TemporaryDirectory() as scratch:
            added += make_migration(argv[0], dialect, Path(scratch))
    if not added:
        print("no model change: nothing to migrate")
        return 0
    if len(added) != 2:
        print(f"expected one file per dialect, got: {sorted(map(str, added))}", file=sys.stderr)
        return 1
    # Aerich stamps each file with the time it ran: both dialects take the first name.
    sqlite_file, postgres_file = added
    if postgres_file.name != sqlite_file.name:
        added[1] = postgres_file.rename(postgres_file.with_name(sqlite_file.name))
    for path in added:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
