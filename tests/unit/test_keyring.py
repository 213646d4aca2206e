"""keyring: the server key file's format, atomic creation, rotation and reloading."""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ots import keyring
from ots.errors import ConfigError
from ots.keyring import KeyFile, KeyRemovalError, Keyring, ServerKey
from tests.support import FakeClock

KEY = base64.urlsafe_b64encode(b"k" * 32).decode()

BAD_FILES = {
    "empty": "",
    "only-comments": "# nothing here\n\n",
    "one-field": f"{KEY}\n",
    "three-fields": f"a {KEY} extra\n",
    "bad-id": f"no/slash {KEY}\n",
    "short-key": f"a {base64.urlsafe_b64encode(b'k' * 16).decode()}\n",
    "not-base64": "a !!!!\n",
    "non-ascii-key": "a ключключключ\n",
    "repeated-id": f"a {KEY}\na {KEY}\n",
}


@pytest.fixture
def umask_022() -> Iterator[None]:
    """Run the test under the usual umask 022."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize("text", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_malformed_files_are_refused_naming_the_variable(text: str) -> None:
    """A key file that is not '<id> <32-byte base64url key>' lines stops the server."""
    with pytest.raises(ConfigError, match="OTS_SERVER_KEY_FILE"):
        keyring.parse(text)


def test_render_and_parse_round_trip() -> None:
    """What is written reads back the same, oldest first, the last line newest."""
    ring = Keyring((keyring.new_server_key(), keyring.new_server_key()))
    again = keyring.parse(keyring.render(ring))
    assert again == ring
    assert again.newest == ring.keys[-1]
    assert again.ids == [k.id for k in ring.keys]


def test_repr_never_shows_key_bytes() -> None:
    """A logged key shows its id only."""
    key = ServerKey("abc", b"\x01" * 32)
    assert "\\x01" not in repr(key)
    assert "abc" in repr(key)


@pytest.mark.usefixtures("umask_022")
def test_ensure_creates_a_private_file_once(tmp_path: Path) -> None:
    """The first call creates the file mode 0600 (under umask 022); later calls load it."""
    path = tmp_path / "sub" / "ots.key"
    ring, created = keyring.ensure(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = keyring.ensure(path)
    assert (again, created_again) == (ring, False)
    assert [p.name for p in path.parent.iterdir()] == ["ots.key"], "no temporary file is left"


def test_concurrent_creators_share_one_key(tmp_path: Path) -> None:
    """Eight threads creating the same file at once all end up with one and the same ring."""
    path = tmp_path / "ots.key"
    results: list[tuple[Keyring, bool]] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        results.append(keyring.ensure(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({ring for ring, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_rotate_adds_a_newest_key_and_keeps_the_old(tmp_path: Path) -> None:
    """Rotation appends a key; the old one stays for the secrets it sealed."""
    path = tmp_path / "ots.key"
    old, _ = keyring.ensure(path)
    added = keyring.rotate(path)
    ring = keyring.load(path)
    assert ring.ids == [old.newest.id, added.id]
    assert ring.newest == added


def test_remove_drops_an_older_key(tmp_path: Path) -> None:
    """Removing an older key forgets it; the newest stays."""
    path = tmp_path / "ots.key"
    first, _ = keyring.ensure(path)
    added = keyring.rotate(path)
    keyring.remove(path, first.newest.id)
    assert keyring.load(path).ids == [added.id]


def test_remove_refuses_the_newest_key(tmp_path: Path) -> None:
    """The newest key seals new secrets: removing it (the only one, or of two) is refused."""
    path = tmp_path / "ots.key"
    first, _ = keyring.ensure(path)
    with pytest.raises(KeyRemovalError, match="newest"):
        keyring.remove(path, first.newest.id)
    added = keyring.rotate(path)
    before = path.read_text()
    with pytest.raises(KeyRemovalError, match=f"key '{added.id}' is the newest.*rotate"):
        keyring.remove(path, added.id)
    assert path.read_text() == before
    with pytest.raises(KeyRemovalError, match="no key 'unknown'"):
        keyring.remove(path, "unknown")


def test_concurrent_rotations_keep_every_key(tmp_path: Path) -> None:
    """Eight threads rotating at once (each with its own lock handle): all eight keys stay."""
    path = tmp_path / "ots.key"
    first, _ = keyring.ensure(path)
    added: list[str] = []
    start = threading.Barrier(8)

    def rotate() -> None:
        start.wait()
        added.append(keyring.rotate(path).id)

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = keyring.load(path).ids
    assert len(added) == 8
    assert sorted(ids) == sorted([first.newest.id, *added])
    assert ids[0] == first.newest.id
    assert stat.S_IMODE((tmp_path / "ots.key.lock").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606], ids=oct)
def test_a_key_file_open_to_others_is_made_private_at_start(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    """ensure() (every start) turns a key file others may read or write into 0600, and says so."""
    path = tmp_path / "ots.key"
    ring, _ = keyring.ensure(path)
    os.chmod(path, mode)
    with caplog.at_level(logging.WARNING, logger="ots.keyring"):
        again, created = keyring.ensure(path)
    assert (again, created) == (ring, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (record,) = caplog.records
    assert record.getMessage() == (
        f"OTS_SERVER_KEY_FILE: {path} was mode {mode:04o}, open to other users; "
        "made it 0600 (owner only)"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=oct)
def test_a_private_key_file_is_left_alone(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    """An owner-only key file keeps its mode (read-only included) and nothing is logged."""
    path = tmp_path / "ots.key"
    keyring.ensure(path)
    os.chmod(path, mode)
    with caplog.at_level(logging.WARNING, logger="ots.keyring"):
        keyring.ensure(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert caplog.records == []


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file named by the setting is reported, naming the variable."""
    with pytest.raises(ConfigError, match="OTS_SERVER_KEY_FILE"):
        keyring.load(tmp_path / "missing.key")


def test_unwritable_directory_is_a_config_error(tmp_path: Path) -> None:
    """A key that cannot be created is reported, naming the variable."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create"):
        keyring.ensure(blocker / "ots.key")


class TestKeyFile:
    """KeyFile: a running process's view of the ring."""

    def test_rereads_the_file_for_a_key_it_has_not_seen(self, tmp_path: Path) -> None:
        """A key added by another process (rotation) is found without a restart."""
        path = tmp_path / "ots.key"
        clock = FakeClock()
        keys = KeyFile(path, keyring.ensure(path)[0], clock)
        added = keyring.rotate(path)
        clock.advance(KeyFile.RELOAD_SECONDS)
        assert keys.find(added.id) == added.secret
        assert keys.newest == added

    def test_rereads_at_most_once_a_second(self, tmp_path: Path) -> None:
        """Unknown ids cannot make the server read the file on every request."""
        path = tmp_path / "ots.key"
        clock = FakeClock()
        keys = KeyFile(path, keyring.ensure(path)[0], clock)
        added = keyring.rotate(path)
        clock.advance(KeyFile.RELOAD_SECONDS / 2)
        assert keys.find(added.id) is None
        clock.advance(KeyFile.RELOAD_SECONDS / 2)
        assert keys.find(added.id) == added.secret

    def test_a_broken_file_keeps_the_ring_in_memory(self, tmp_path: Path) -> None:
        """If the file turns unreadable, the keys already loaded keep working."""
        path = tmp_path / "ots.key"
        keyring.ensure(path)
        clock = FakeClock()
        keys = KeyFile(path, clock=clock)  # reads it now
        path.write_text("garbage\n")
        clock.advance(KeyFile.RELOAD_SECONDS)
        assert keys.find("unknown") is None
        assert keys.find(keys.newest.id) == keys.newest.secret
