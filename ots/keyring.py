"""The server keyring: keys that never enter the database, kept in one private file.

Every secret's encryption key also depends on one of these keys, so a copy
of the database plus a leaked link and passphrase opens nothing. The file
holds one key per line, ``<id> <base64url of 32 bytes>``; the last line
seals new secrets, the others keep opening what they sealed. Removing a
line makes its secrets unrecoverable (crypto-shredding).

Writes are atomic (a temporary file linked or renamed into place), so a
reader never sees half a file, and two processes creating the file at the
same moment end up sharing one key. Changes (rotate, remove) hold an
exclusive lock on a file beside it (``<name>.lock``) and read the ring again
under it, so concurrent ones never lose each other's keys. A key file that
others may read is made private (0600) at start. Neither Sanic nor Tortoise
is imported.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ots.errors import ConfigError

log = logging.getLogger("ots.keyring")

KEY_BYTES: Final = 32
FILE_MODE: Final = 0o600
VARIABLE: Final = "OTS_SERVER_KEY_FILE"
# Beside the key file: the lock that rotate and remove hold.
LOCK_SUFFIX: Final = ".lock"
_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
_HEADER: Final = (
    "# ots server keyring: one key per line, '<id> <base64url key>'.\n"
    "# The last line seals new secrets; the others still open what they sealed.\n"
    "# Removing a line makes its secrets unreadable. Back this file up apart from\n"
    "# the database: a database copy without it opens nothing.\n"
)


class KeyRemovalError(ValueError):
    """``remove`` refused: the id is unknown, or it names the newest key; the message says why."""


@dataclass(frozen=True)
class ServerKey:
    """One key of the ring; ``repr`` never shows the key bytes."""

    id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Keyring:
    """The keys of one file, oldest first; the newest seals new secrets."""

    keys: tuple[ServerKey, ...]

    @property
    def newest(self) -> ServerKey:
        """Return the key that seals new secrets."""
        return self.keys[-1]

    def get(self, key_id: str) -> bytes | None:
        """Return the key with ``key_id``, or None if the ring no longer has it."""
        for key in self.keys:
            if key.id == key_id:
                return key.secret
        return None

    @property
    def ids(self) -> list[str]:
        """Return the key ids, oldest first."""
        return [key.id for key in self.keys]


def new_server_key() -> ServerKey:
    """Return a fresh random key with a random id."""
    return ServerKey(id=secrets.token_hex(4), secret=secrets.token_bytes(KEY_BYTES))


def parse(text: str, source: str = VARIABLE) -> Keyring:
    """Parse a keyring file's text.

    Raises:
        ConfigError: a line is malformed, an id repeats, or there is no key.
    """
    keys: list[ServerKey] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not _ID_PATTERN.fullmatch(parts[0]):
            raise ConfigError(source, f"line {number} must be '<id> <base64url key>'")
        try:
            secret = base64.urlsafe_b64decode(parts[1].encode("ascii"))
        except (binascii.Error, UnicodeEncodeError):
            secret = b""
        if len(secret) != KEY_BYTES:
            raise ConfigError(source, f"line {number}: the key must be {KEY_BYTES} bytes")
        if any(key.id == parts[0] for key in keys):
            raise ConfigError(source, f"line {number}: key id {parts[0]!r} repeats")
        keys.append(ServerKey(parts[0], secret))
    if not keys:
        raise ConfigError(source, "the key file holds no key")
    return Keyring(tuple(keys))


def render(ring: Keyring) -> str:
    """Return the file text for ``ring``."""
    lines = [f"{k.id} {base64.urlsafe_b64encode(k.secret).decode('ascii')}" for k in ring.keys]
    return _HEADER + "\n".join(lines) + "\n"


def load(path: Path) -> Keyring:
    """Read the keyring at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable or malformed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(VARIABLE, f"cannot read {path}: {exc}") from None
    return parse(text, f"{VARIABLE} ({path})")


def ensure(path: Path) -> tuple[Keyring, bool]:
    """Load the keyring at ``path``, creating it with one new key if there is none.

    A file that others may read (or write) is made private (0600) first, with
    a warning: a key file left wide by an older release or a careless copy.

    Returns:
        The ring, and whether this call created the file.

    Raises:
        ConfigError: the file exists but is malformed, cannot be made private,
            or cannot be written.
    """
    if path.exists():
        make_private(path)
        return load(path), False
    ring = Keyring((new_server_key(),))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _staged(path, render(ring)) as staged:
            # link() fails if another process created the file first: then theirs wins.
            os.link(staged, path)
    except FileExistsError:
        if path.is_file():
            return load(path), False
        raise ConfigError(VARIABLE, f"cannot create {path}: not a directory") from None
    except OSError as exc:
        raise ConfigError(VARIABLE, f"cannot create {path}: {exc}") from None
    return ring, True


def make_private(path: Path) -> None:
    """Make the key file at ``path`` mode 0600 if its group or others have any access.

    Raises:
        ConfigError: it cannot be changed (another user owns it): the server stops.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & 0o077:
            return
        os.chmod(path, FILE_MODE)
    except OSError as exc:
        raise ConfigError(
            VARIABLE,
            f"{path} is open to other users and cannot be made private ({exc}); "
            "give it mode 0600 (owner only)",
        ) from None
    log.warning(
        "%s: %s was mode %04o, open to other users; made it 0600 (owner only)",
        VARIABLE,
        path,
        mode,
    )


def created_message(path: Path, ring: Keyring) -> str:
    """Return the one line that tells an operator a key file was just created."""
    return (
        f"created server key file {path} (key {ring.newest.id}); back it up apart from "
        "the database: without it no secret can be read"
    )


def rotate(path: Path) -> ServerKey:
    """Add a new key to the ring at ``path`` and return it; a missing file is created.

    Under the ring's lock, reading the file again: of concurrent rotations
    (several operators, a script), every added key stays in the file.
    """
    with _locked(path):
        ring, created = ensure(path)
        if created:
            return ring.newest
        added = new_server_key()
        _replace(path, Keyring((*ring.keys, added)))
        return added


def remove(path: Path, key_id: str) -> None:
    """Drop ``key_id`` from the ring: secrets it sealed can never be opened again.

    Raises:
        ConfigError: the file is missing, malformed or cannot be written.
        KeyRemovalError: the id is unknown, or it is the newest key, which seals
            new secrets (the only key included): rotate first.
    """
    with _locked(path):
        ring = load(path)
        if ring.get(key_id) is None:
            raise KeyRemovalError(f"the ring in {path} has no key {key_id!r}")
        if key_id == ring.newest.id:
            raise KeyRemovalError(
                f"key {key_id!r} is the newest: it seals new secrets and cannot be "
                "removed; run 'ots keys rotate' first, then remove it"
            )
        _replace(path, Keyring(tuple(k for k in ring.keys if k.id != key_id)))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # An exclusive flock on a private file beside the key file, held for a whole
    # read-change-write: the key file itself cannot carry it, since every write
    # replaces it with a new file. Released when the descriptor closes.
    lock_path = path.with_name(path.name + LOCK_SUFFIX)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        raise ConfigError(VARIABLE, f"cannot lock {lock_path}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _replace(path: Path, ring: Keyring) -> None:
    try:
        with _staged(path, render(ring)) as staged:
            os.replace(staged, path)
    except OSError as exc:
        raise ConfigError(VARIABLE, f"cannot write {path}: {exc}") from None


@contextlib.contextmanager
def _staged(path: Path, text: str) -> Iterator[Path]:
    # A private temporary file beside the target, written and flushed to disk
    # before it is linked or renamed into place; removed if it is still there.
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        yield staged
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


class KeyFile:
    """The ring of one file as a running process sees it.

    Loaded once at start. A secret that names a key this process has not seen
    (another replica rotated) makes it read the file again, at most once per
    ``RELOAD_SECONDS``, so replicas sharing the file open each other's secrets
    without a restart.
    """

    RELOAD_SECONDS: Final = 1.0

    def __init__(
        self,
        path: Path,
        ring: Keyring | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Use ``ring`` as already read from ``path``, or read it now."""
        self.path = path
        self.ring = ring if ring is not None else load(path)
        self._clock = clock
        self._loaded_at = clock()

    @property
    def newest(self) -> ServerKey:
        """Return the key that seals new secrets."""
        return self.ring.newest

    def find(self, key_id: str) -> bytes | None:
        """Return the key with ``key_id``, or None if the ring does not hold it."""
        found = self.ring.get(key_id)
        if found is None and self._clock() - self._loaded_at >= self.RELOAD_SECONDS:
            self._loaded_at = self._clock()
            try:
                self.ring = load(self.path)
            except ConfigError as exc:
                log.warning("cannot reload the server keyring: %s", exc)
                return None
            found = self.ring.get(key_id)
        return found
