"""The `ots` command: bad settings, a database that is not there, the sweep command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ots import db
from tests.support import make_settings, run_bare, run_cli

BAD_SETTINGS = {
    "port-not-a-number": ("OTS_PORT", "http"),
    "port-out-of-range": ("OTS_PORT", "70000"),
    "ttl-order": ("OTS_DEFAULT_TTL", "10"),
    "argon2-memory": ("OTS_ARGON2_MEMORY_KIB", "4"),
    "rate-limit": ("OTS_RATE_LIMIT", "lots"),
    "database-scheme": ("OTS_DATABASE_URL", "mysql://x"),
    "workers-zero": ("OTS_WORKERS", "0"),
}


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_setting_stops_the_server_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    """`ots serve` with a bad value exits non-zero and names the variable."""
    result = run_bare("serve", cwd=tmp_path, **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert not list(tmp_path.iterdir()), "nothing may be created before the settings are valid"


def test_database_down_at_start_exits_with_a_clear_message() -> None:
    """With no database to reach, `ots serve` retries for OTS_DB_WAIT, then exits 1.

    How long it waits is proven on a fake clock (tests/unit/test_db.py); here, that it
    retried and what it says.
    """
    settings = make_settings("postgres://postgres@127.0.0.1:1/none", db_wait=1.0)
    result = run_cli(settings, "serve")
    assert result.returncode == 1
    assert "database not reachable yet" in result.stderr
    assert "cannot prepare the database" in result.stderr
    assert "OTS_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_database_is_a_file_in_the_working_directory(tmp_path: Path) -> None:
    """With no OTS_DATABASE_URL, `ots migrate` creates ots.sqlite3 where it is run."""
    result = run_bare("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ots.sqlite3").is_file()


def test_sweep_command_reports_what_it_removed(db_url: str) -> None:
    """`ots sweep` runs one bounded sweep and exits 0 (for cron or a scheduler)."""
    result = run_cli(make_settings(db_url), "sweep")
    assert result.returncode == 0, result.stderr
    assert "swept" in result.stdout


def test_migrations_ship_inside_the_wheel(tmp_path: Path) -> None:
    """The built wheel carries both migration histories inside the package."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=Path(db.__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("ots-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for dialect in ("sqlite", "postgres"):
        assert any(n.startswith(f"ots/migrations/{dialect}/models/0_") for n in names), names
