"""The pages' static files: read once from the package, served under a content hash.

Every URL is ``/static/<version>/<path>``, where ``version`` is a hash of all
the files together. A changed file changes the version, so each URL names
one content for ever and may be cached as immutable; the ES modules import
each other by relative paths, which stay inside one version. Only files of
the kinds the pages load are served (not the vendored files' READMEs and
licences, which stay beside them in the package).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

STATIC: Final = Path(__file__).parent / "static"
PREFIX: Final = "/static/"
# Hashed URLs never change content: a year, and no revalidation.
IMMUTABLE: Final = "public, max-age=31536000, immutable"
CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_VERSION_CHARS: Final = 16


@dataclass(frozen=True)
class Asset:
    """One file: its bytes (and gzipped, when that is smaller), type and validator."""

    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = None

    def encoded(self, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
        """Return the body for a client that accepts ``accept_encoding``, and its headers.

        Compressed once at start: the argon2 build alone shrinks by a quarter, which
        keeps the recipient page within its budget. (Pages themselves are never
        compressed: they may hold a secret beside text an attacker chose, as BREACH needs.)
        """
        if self.gzipped is not None and "gzip" in (accept_encoding or "").lower():
            etag = self.etag[:-1] + '-gzip"'
            return self.gzipped, {"Content-Encoding": "gzip", "ETag": etag}
        return self.body, {"ETag": self.etag}


@dataclass(frozen=True)
class Assets:
    """The static files of one build, by path relative to ``static/``."""

    version: str
    files: Mapping[str, Asset]

    @classmethod
    def load(cls, directory: Path = STATIC) -> Assets:
        """Read every servable file under ``directory`` and hash them."""
        files: dict[str, Asset] = {}
        whole = hashlib.sha256()
        for path in sorted(directory.rglob("*")):
            content_type = CONTENT_TYPES.get(path.suffix)
            if content_type is None or not path.is_file():
                continue
            name = path.relative_to(directory).as_posix()
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()
            whole.update(f"{name}\0{digest}\0".encode())
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            files[name] = Asset(
                body,
                content_type,
                f'"{digest[:_VERSION_CHARS]}"',
                packed if len(packed) < len(body) else None,
            )
        return cls(whole.hexdigest()[:_VERSION_CHARS], files)

    def url(self, name: str) -> str:
        """Return the URL of file ``name`` (a path under ``static/``).

        Raises:
            KeyError: there is no such file (a template's typo, caught by the tests).
        """
        if name not in self.files:
            raise KeyError(name)
        return f"{PREFIX}{self.version}/{name}"

    def find(self, version: str, name: str) -> Asset | None:
        """Return the file a URL names, or None: an unknown file or another build's version."""
        if version != self.version:
            return None
        return self.files.get(name)
