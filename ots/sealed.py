"""The sealed-v1 format: secrets encrypted by their client, which the server never sees.

``docs/sealed-v1.md`` is the specification and carries test vectors; this
module is its reference implementation. The official client seals and opens
with it; the server only uses ``verifier_of`` to check an access proof.
Pure bytes in, bytes out: no HTTP, no database, no event loop.

In short: a random 256-bit link key (and, optionally, a passphrase stretched
with argon2id) gives, through HKDF-SHA256, a content key (AES-256-GCM over the
secret) and an access proof. The server receives the ciphertext, an envelope
of public parameters and a verifier (a hash of the proof), and releases the
ciphertext once to whoever presents the proof. The link key travels in the
link's fragment, which browsers and HTTP clients never send to a server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = 1
LINK_KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
PROOF_BYTES: Final = 32
SALT_BYTES: Final = 16
TAG_BYTES: Final = 16
# Characters of the base64url text of a 32-byte value, and of a 12-byte nonce.
KEY_CHARS: Final = 43
NONCE_CHARS: Final = 16
KDF_NONE: Final = "none"
KDF_ARGON2ID: Final = "argon2id"
# argon2id for a passphrase: RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes).
ARGON2_TIME_COST: Final = 3
ARGON2_MEMORY_KIB: Final = 65536
ARGON2_PARALLELISM: Final = 4
ASSOCIATED_DATA: Final = b"ots sealed-v1"
_CONTENT_INFO: Final = b"ots sealed-v1 content key"
_PROOF_INFO: Final = b"ots sealed-v1 access proof"
_SALT_LABEL: Final = b"ots sealed-v1 salt\0"
_VERIFIER_LABEL: Final = b"ots sealed-v1 verifier\0"
_FRAGMENT: Final = re.compile(r"v1\.([A-Za-z0-9_-]{43})(\.p)?")
_SECRETS_PATH: Final = "/secrets/"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")


class SealedFormatError(ValueError):
    """Not a sealed-v1 value: a bad link, envelope or encoding."""


class OpenError(Exception):
    """The ciphertext does not open with this link key (and passphrase): wrong or altered."""


@dataclass(frozen=True)
class Envelope:
    """The public parameters the recipient needs besides the keys (stored with the ciphertext)."""

    nonce: bytes
    kdf: str
    version: int = VERSION

    def to_json(self) -> dict[str, object]:
        """Return the envelope as sent on the wire."""
        return {"v": self.version, "nonce": b64encode(self.nonce), "kdf": self.kdf}

    @classmethod
    def from_json(cls, value: object) -> Envelope:
        """Read an envelope from the wire.

        Raises:
            SealedFormatError: not a sealed-v1 envelope.
        """
        if not isinstance(value, dict) or value.get("v") != VERSION:
            raise SealedFormatError("not a sealed-v1 envelope")
        kdf = value.get("kdf")
        if kdf not in (KDF_NONE, KDF_ARGON2ID):
            raise SealedFormatError("unknown kdf in the envelope")
        nonce = b64decode(str(value.get("nonce", "")))
        if len(nonce) != NONCE_BYTES:
            raise SealedFormatError("the envelope's nonce is not 12 bytes")
        return cls(nonce=nonce, kdf=str(kdf))


@dataclass(frozen=True)
class Keys:
    """What a link key (and passphrase) give: the content key and the access proof."""

    content_key: bytes
    proof: bytes

    def __repr__(self) -> str:
        """Hide the keys."""
        return "Keys(**********)"


@dataclass(frozen=True)
class SealedSecret:
    """A sealed secret as its creator holds it: what to send, and the link key to hand over."""

    ciphertext: bytes
    envelope: Envelope
    verifier: bytes
    link_key: bytes
    needs_passphrase: bool

    def __repr__(self) -> str:
        """Hide the link key."""
        return f"SealedSecret(ciphertext=<{len(self.ciphertext)} bytes>, **********)"

    @property
    def fragment(self) -> str:
        """The link's fragment: ``v1.<link key>``, plus ``.p`` when a passphrase is needed."""
        return make_fragment(self.link_key, self.needs_passphrase)

    def request(self) -> dict[str, object]:
        """The sealed fields of ``POST /generate``."""
        return {
            "ciphertext": b64encode(self.ciphertext),
            "envelope": self.envelope.to_json(),
            "verifier": b64encode(self.verifier),
        }


@dataclass(frozen=True)
class Link:
    """A parsed sealed link: the server, the secret_key, and the fragment's link key."""

    server: str
    secret_key: str
    link_key: bytes
    needs_passphrase: bool

    def __repr__(self) -> str:
        """Hide the link key."""
        return f"Link(server={self.server!r}, secret_key=**********)"


def b64_chars(size: int) -> int:
    """Return the length of the base64url text (no padding) of ``size`` bytes."""
    return (4 * size + 2) // 3


def b64encode(data: bytes) -> str:
    """Return ``data`` as base64url text without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode base64url without padding, refusing anything ``b64encode`` would not write.

    Raises:
        SealedFormatError: other characters, padding, an impossible length, or
            stray bits in the last character.
    """
    if _BASE64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise SealedFormatError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - excluded by the checks above
        raise SealedFormatError("not base64url without padding") from None
    if b64encode(data) != text:
        raise SealedFormatError("not base64url without padding (stray bits)")
    return data


def new_link_key() -> bytes:
    """Return a fresh link key from the CSPRNG."""
    return secrets.token_bytes(LINK_KEY_BYTES)


def passphrase_salt(link_key: bytes) -> bytes:
    """Return the argon2id salt of a passphrase: unique per secret, as the link key is."""
    return hashlib.sha256(_SALT_LABEL + link_key).digest()[:SALT_BYTES]


def derive(link_key: bytes, passphrase: str | None) -> Keys:
    """Derive the content key and the access proof (argon2id first, with a passphrase)."""
    if len(link_key) != LINK_KEY_BYTES:
        raise SealedFormatError("a link key is 32 bytes")
    material = link_key
    if passphrase is not None:
        # Slow on purpose: the passphrase is a human's, and the ciphertext may leak.
        material += hash_secret_raw(
            passphrase.encode("utf-8"),
            passphrase_salt(link_key),
            time_cost=ARGON2_TIME_COST,
            memory_cost=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
            hash_len=32,
            type=Type.ID,
        )
    return Keys(content_key=_hkdf(material, _CONTENT_INFO), proof=_hkdf(material, _PROOF_INFO))


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def verifier_of(proof: bytes) -> bytes:
    """Return the verifier of an access proof: what the creator sends instead of the proof."""
    return hashlib.sha256(_VERIFIER_LABEL + proof).digest()


def seal(
    plaintext: bytes,
    passphrase: str | None = None,
    *,
    link_key: bytes | None = None,
    nonce: bytes | None = None,
) -> SealedSecret:
    """Encrypt ``plaintext`` under a fresh link key (and ``passphrase``, if given).

    ``link_key`` and ``nonce`` are for test vectors only: fresh random ones
    are the only safe choice.
    """
    link_key = new_link_key() if link_key is None else link_key
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    keys = derive(link_key, passphrase)
    ciphertext = AESGCM(keys.content_key).encrypt(nonce, plaintext, ASSOCIATED_DATA)
    return SealedSecret(
        ciphertext=ciphertext,
        envelope=Envelope(nonce=nonce, kdf=KDF_NONE if passphrase is None else KDF_ARGON2ID),
        verifier=verifier_of(keys.proof),
        link_key=link_key,
        needs_passphrase=passphrase is not None,
    )


def open_sealed(ciphertext: bytes, envelope: Envelope, keys: Keys) -> bytes:
    """Decrypt what ``seal`` encrypted, with the keys ``derive`` gave.

    Raises:
        OpenError: the keys are wrong, or the ciphertext or envelope was altered.
    """
    try:
        return AESGCM(keys.content_key).decrypt(envelope.nonce, ciphertext, ASSOCIATED_DATA)
    except (InvalidTag, ValueError):
        raise OpenError from None


def make_fragment(link_key: bytes, needs_passphrase: bool) -> str:
    """Return a link's fragment: ``v1.<link key>``, plus ``.p`` when a passphrase is needed."""
    return f"v1.{b64encode(link_key)}" + (".p" if needs_passphrase else "")


def make_link(server: str, secret_key: str, fragment: str) -> str:
    """Return the link to hand over: the secret's URL, with the link key as its fragment.

    Followed in a browser, its GET only shows whether the secret is there.
    """
    return f"{server.rstrip('/')}{_SECRETS_PATH}{secret_key}#{fragment}"


def is_link(text: str) -> bool:
    """Tell whether ``text`` looks like a sealed link (a URL with a fragment) rather than a key."""
    return "#" in text or "://" in text


def parse_fragment(fragment: str) -> tuple[bytes, bool]:
    """Read a link's fragment: the link key, and whether a passphrase is needed too.

    Raises:
        SealedFormatError: it is not ``v1.<link key>`` or ``v1.<link key>.p``.
    """
    match = _FRAGMENT.fullmatch(fragment)
    if match is None:
        raise SealedFormatError("the link has no sealed-v1 key after '#' (was it cut short?)")
    return b64decode(match.group(1)), match.group(2) is not None


def parse_link(text: str) -> Link:
    """Read a sealed link; a trailing ``/`` and a query (added on the way) are ignored.

    Raises:
        SealedFormatError: it is not ``<server>/secrets/<secret_key>#v1.<link key>[.p]``.
    """
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SealedFormatError("a sealed link starts with https:// or http://")
    link_key, needs_passphrase = parse_fragment(parts.fragment)
    prefix, found, secret_key = parts.path.rstrip("/").rpartition(_SECRETS_PATH)
    if not found or not secret_key or "/" in secret_key:
        raise SealedFormatError("a sealed link's path ends in /secrets/<secret_key>")
    return Link(
        server=urlunsplit((parts.scheme, parts.netloc, prefix, "", "")),
        secret_key=secret_key,
        link_key=link_key,
        needs_passphrase=needs_passphrase,
    )
