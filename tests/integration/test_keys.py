"""The server key through real processes: creation at start, `ots keys`, rotation, replicas."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from ots import keyring
from ots.config import Settings
from tests.support import (
    create_secret,
    free_port,
    make_settings,
    race_cli,
    run_bare,
    run_cli,
    running_server,
)

pytestmark = pytest.mark.slow


def reveal(base: str, key: str) -> httpx.Response:
    """Read a secret with passphrase ``pw``."""
    return httpx.post(f"{base}/secrets/{key}", json={"passphrase": "pw"})


def test_first_start_creates_a_private_key_and_says_so_once(tmp_path: Path) -> None:
    """`ots migrate` creates ots.key beside the SQLite file (0600) and says so, once."""
    first = run_bare("migrate", cwd=tmp_path)
    second = run_bare("migrate", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr
    key = tmp_path / "ots.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [line for line in first.stderr.splitlines() if "server key" in line] == [
        f"ots: created server key file ots.key (key {keyring.load(key).newest.id}); back it up "
        "apart from the database: without it no secret can be read"
    ]
    assert "server key" not in second.stderr


def test_keys_command_lists_rotates_and_removes(tmp_path: Path) -> None:
    """`ots keys` prints the ids, `rotate` adds the newest, `remove` drops one."""
    path = str(tmp_path / "ring.key")
    missing = run_bare("keys", cwd=tmp_path, OTS_SERVER_KEY_FILE=path)
    assert missing.returncode == 2
    assert "OTS_SERVER_KEY_FILE" in missing.stderr
    rotated = [run_bare("keys", "rotate", cwd=tmp_path, OTS_SERVER_KEY_FILE=path) for _ in range(2)]
    assert all(r.returncode == 0 for r in rotated)
    ids = keyring.load(Path(path)).ids
    assert len(ids) == 2
    assert ids[1] in rotated[1].stdout
    listed = run_bare("keys", cwd=tmp_path, OTS_SERVER_KEY_FILE=path)
    assert listed.stdout.splitlines() == [ids[0], f"{ids[1]}  (seals new secrets)"]
    removed = run_bare("keys", "remove", ids[0], cwd=tmp_path, OTS_SERVER_KEY_FILE=path)
    assert removed.returncode == 0
    assert keyring.load(Path(path)).ids == [ids[1]]
    last = run_bare("keys", "remove", ids[1], cwd=tmp_path, OTS_SERVER_KEY_FILE=path)
    assert (last.returncode, "is the newest" in last.stderr) == (2, True)


def test_keys_remove_refuses_the_newest_key(tmp_path: Path) -> None:
    """`ots keys remove NEWEST` exits 2 with one line saying to rotate first; the file stays."""
    path = tmp_path / "ring.key"
    for _ in range(2):
        assert (
            run_bare("keys", "rotate", cwd=tmp_path, OTS_SERVER_KEY_FILE=str(path)).returncode == 0
        )
    before = path.read_text()
    newest = keyring.load(path).newest.id
    refused = run_bare("keys", "remove", newest, cwd=tmp_path, OTS_SERVER_KEY_FILE=str(path))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"ots: key {newest!r} is the newest: it seals new secrets and cannot be removed; "
        "run 'ots keys rotate' first, then remove it\n"
    )
    assert path.read_text() == before
    unknown = run_bare("keys", "remove", "nosuchkey", cwd=tmp_path, OTS_SERVER_KEY_FILE=str(path))
    assert unknown.returncode == 2
    assert unknown.stderr == f"ots: the ring in {path} has no key 'nosuchkey'\n"


def test_concurrent_rotate_commands_keep_every_key(tmp_path: Path) -> None:
    """Six `ots keys rotate` processes at once: the file ends with all six new keys."""
    path = tmp_path / "ring.key"
    first, _ = keyring.ensure(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    env["OTS_SERVER_KEY_FILE"] = str(path)
    results = race_cli(env, "keys", "rotate", count=6, cwd=tmp_path)
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    added = [r.stdout.split()[3] for r in results]  # "ots: added key ID to ..."
    ids = keyring.load(path).ids
    assert sorted(ids) == sorted([first.newest.id, *added])
    assert len(set(added)) == 6


def test_start_makes_a_key_file_open_to_others_private(tmp_path: Path) -> None:
    """`ots migrate` with a key file of mode 0644 leaves it 0600 and warns once, naming it."""
    key = tmp_path / "ots.key"
    keyring.ensure(key)
    key.chmod(0o644)
    result = run_bare("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert [line for line in result.stderr.splitlines() if "0600" in line] == [
        "OTS_SERVER_KEY_FILE: ots.key was mode 0644, open to other users; made it 0600 (owner only)"
    ]


def test_sweep_needs_no_key(tmp_path: Path) -> None:
    """`ots sweep` decrypts nothing, so it neither needs nor creates the key file."""
    settings = make_settings(
        f"sqlite://{tmp_path / 'db.sqlite3'}", server_key_file=str(tmp_path / "none.key")
    )
    assert run_cli(settings, "migrate").returncode == 0
    (tmp_path / "none.key").unlink()
    result = run_cli(settings, "sweep")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "none.key").exists()


def test_rotation_keeps_old_secrets_and_removal_shreds_them(db_url: str, tmp_path: Path) -> None:
    """After a rotation old secrets still open; after removing their key they are 404."""
    settings = make_settings(db_url, port=free_port(), server_key_file=str(tmp_path / "ots.key"))
    with running_server(settings, tmp_path / "one.log") as base:
        old = [create_secret(base, f"old-{i}", "pw").secret_key for i in range(2)]
    old_id = keyring.load(tmp_path / "ots.key").newest.id
    assert run_cli(settings, "keys", "rotate").returncode == 0
    with running_server(settings, tmp_path / "two.log") as base:
        new = create_secret(base, "new", "pw").secret_key
        assert reveal(base, old[0]).json() == {"secret": "old-0"}
    assert run_cli(settings, "keys", "remove", old_id).returncode == 0
    with running_server(settings, tmp_path / "three.log") as base:
        assert httpx.get(f"{base}/secrets/{old[1]}").status_code == 404
        assert reveal(base, old[1]).status_code == 404
        assert reveal(base, new).json() == {"secret": "new"}


def test_replicas_sharing_the_key_file_open_each_others_secrets(
    db_url: str, tmp_path: Path
) -> None:
    """Two servers on one database and key file reveal each other's secrets.

    Also after one of them rotated and restarted while the other kept running.
    """
    key_file = str(tmp_path / "ots.key")
    a = make_settings(db_url, port=free_port(), server_key_file=key_file)
    b = make_settings(db_url, port=free_port(), server_key_file=key_file)
    with running_server(b, tmp_path / "b.log") as base_b:
        with running_server(a, tmp_path / "a.log") as base_a:
            from_a, from_b = (
                create_secret(base_a, "from a", "pw").secret_key,
                create_secret(base_b, "from b", "pw").secret_key,
            )
            assert reveal(base_b, from_a).json() == {"secret": "from a"}
            assert reveal(base_a, from_b).json() == {"secret": "from b"}
        assert run_cli(a, "keys", "rotate").returncode == 0
        with running_server(a, tmp_path / "a2.log") as base_a:
            rotated = create_secret(base_a, "under the new key", "pw").secret_key
            assert reveal(base_b, rotated).json() == {"secret": "under the new key"}


def test_asgi_start_creates_the_key(tmp_path: Path, db_url: str) -> None:
    """Under uvicorn the app creates a missing key file at start-up, 0600, and logs it once."""
    settings: Settings = make_settings(
        db_url, port=free_port(), server_key_file=str(tmp_path / "asgi.key")
    )
    log = tmp_path / "uvicorn.log"
    with running_server(settings, log, kind="uvicorn") as base:
        assert reveal(base, create_secret(base, "asgi", "pw").secret_key).json() == {
            "secret": "asgi"
        }
    assert stat.S_IMODE((tmp_path / "asgi.key").stat().st_mode) == 0o600
    assert log.read_text().count("created server key file") == 1
