"""The request-v1 format: ask someone for a secret that only the asker can read.

``docs/request-v1.md`` is the specification and carries test vectors; this
module is its reference implementation. The official client asks, answers
and opens with it; the server only checks the shape of an answer's envelope
(``check_public_key``). Pure bytes in, bytes out: no HTTP, no database, no
event loop.

In short: the asker draws a P-256 key pair. The public key travels in the
request link's fragment; the private key stays with the asker, in the answer
link's fragment. The answering client does ECDH with an ephemeral key pair,
derives an AES-256-GCM key with HKDF-SHA256, and posts the ciphertext with
its ephemeral public key. The asker reveals the answer as a sealed-v1 secret
is revealed: with an access proof derived from the private key, whose
verifier the server received when the request was made.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ots.sealed import OpenError, SealedFormatError, b64decode, b64encode, verifier_of

VERSION: Final = "r1"
# An uncompressed P-256 point (0x04 || x || y), and a private key as the link carries it.
PUBLIC_KEY_BYTES: Final = 65
SCALAR_BYTES: Final = 32
PRIVATE_KEY_BYTES: Final = SCALAR_BYTES + PUBLIC_KEY_BYTES - 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
ASSOCIATED_DATA: Final = b"ots request-v1"
_CONTENT_INFO: Final = b"ots request-v1 content key"
_PROOF_INFO: Final = b"ots request-v1 access proof"
_CURVE: Final = ec.SECP256R1()
# P-256's group order: a private scalar lies in [1, ORDER - 1].
ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_REQUEST_FRAGMENT: Final = re.compile(r"r1\.([A-Za-z0-9_-]{87})")
_ANSWER_FRAGMENT: Final = re.compile(r"r1\.([A-Za-z0-9_-]{128})")
REQUESTS_PATH: Final = "/requests/"
SECRETS_PATH: Final = "/secrets/"


class RequestFormatError(SealedFormatError):
    """Not a request-v1 value: a bad link, key, envelope or encoding."""


@dataclass(frozen=True)
class Envelope:
    """An answer's public parameters: the AES-GCM nonce and the answerer's ephemeral key."""

    nonce: bytes
    epk: bytes

    def to_json(self) -> dict[str, object]:
        """Return the envelope as sent on the wire."""
        return {"v": VERSION, "nonce": b64encode(self.nonce), "epk": b64encode(self.epk)}

    @classmethod
    def from_json(cls, value: object) -> Envelope:
        """Read an envelope from the wire.

        Raises:
            RequestFormatError: not a request-v1 envelope.
        """
        if not isinstance(value, dict) or value.get("v") != VERSION:
            raise RequestFormatError("not a request-v1 envelope")
        try:
            nonce = b64decode(str(value.get("nonce", "")))
            epk = b64decode(str(value.get("epk", "")))
        except SealedFormatError:
            raise RequestFormatError("not base64url without padding") from None
        if len(nonce) != NONCE_BYTES:
            raise RequestFormatError("the envelope's nonce is not 12 bytes")
        check_public_key(epk)
        return cls(nonce=nonce, epk=epk)


@dataclass(frozen=True)
class Asker:
    """The asker's key pair, and the proof that reveals the answer (to keep, never to send)."""

    private_key: bytes
    public_key: bytes

    def __repr__(self) -> str:
        """Hide the private key."""
        return "Asker(**********)"

    @property
    def proof(self) -> bytes:
        """The access proof of the answer: HKDF of the private scalar."""
        return _hkdf(self.private_key[:SCALAR_BYTES], _PROOF_INFO)

    @property
    def verifier(self) -> bytes:
        """What the request sends: the proof's verifier, as sealed-v1 computes it."""
        return verifier_of(self.proof)

    @property
    def request_fragment(self) -> str:
        """The request link's fragment: ``r1.<public key>``."""
        return f"{VERSION}.{b64encode(self.public_key)}"

    @property
    def answer_fragment(self) -> str:
        """The answer link's fragment: ``r1.<d || x || y>``."""
        return f"{VERSION}.{b64encode(self.private_key)}"


@dataclass(frozen=True)
class SealedAnswer:
    """An answer sealed to the asker's public key: what the answering client posts."""

    ciphertext: bytes
    envelope: Envelope

    def __repr__(self) -> str:
        """Say only the size."""
        return f"SealedAnswer(ciphertext=<{len(self.ciphertext)} bytes>)"

    def body(self) -> dict[str, object]:
        """The body of ``POST /requests/{request_key}/answer``."""
        return {"ciphertext": b64encode(self.ciphertext), "envelope": self.envelope.to_json()}


@dataclass(frozen=True)
class RequestLink:
    """A parsed request link: the server, the request_key and the asker's public key."""

    server: str
    request_key: str
    public_key: bytes


@dataclass(frozen=True)
class AnswerLink:
    """A parsed answer link: the server, the answer's secret_key and the asker's key pair."""

    server: str
    secret_key: str
    asker: Asker

    def __repr__(self) -> str:
        """Hide the keys."""
        return f"AnswerLink(server={self.server!r}, secret_key=**********)"


def _hkdf(material: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def check_public_key(point: bytes) -> ec.EllipticCurvePublicKey:
    """Return the P-256 public key of an uncompressed point.

    Raises:
        RequestFormatError: not 65 bytes, not uncompressed, or not on the curve.
    """
    if len(point) != PUBLIC_KEY_BYTES or point[0] != 4:
        raise RequestFormatError("a public key is an uncompressed P-256 point (65 bytes)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
    except ValueError:
        raise RequestFormatError("the public key is not a point of P-256") from None


def _private(scalar: bytes) -> ec.EllipticCurvePrivateKey:
    value = int.from_bytes(scalar, "big")
    if len(scalar) != SCALAR_BYTES or not 0 < value < ORDER:
        raise RequestFormatError("a private key is a P-256 scalar in [1, n - 1]")
    return ec.derive_private_key(value, _CURVE)


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    numbers = key.public_key().public_numbers()
    return b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


def new_asker(scalar: bytes | None = None) -> Asker:
    """Draw the asker's key pair (``scalar`` is for test vectors only)."""
    if scalar is None:
        key = ec.generate_private_key(_CURVE)
        scalar = key.private_numbers().private_value.to_bytes(SCALAR_BYTES, "big")
    point = _point(_private(scalar))
    return Asker(private_key=scalar + point[1:], public_key=point)


def asker_of(private_key: bytes) -> Asker:
    """Return the key pair an answer link carries, checking that its halves belong together.

    Raises:
        RequestFormatError: the wrong length, a scalar out of range, or a public
            part that is not the scalar's.
    """
    if len(private_key) != PRIVATE_KEY_BYTES:
        raise RequestFormatError("an answer link's key is 96 bytes (d, x and y)")
    asker = new_asker(private_key[:SCALAR_BYTES])
    if asker.private_key != private_key:
        raise RequestFormatError("the answer link's public part is not its private key's")
    return asker


def content_key(shared: bytes, epk: bytes, public_key: bytes) -> bytes:
    """Return the AES-256-GCM key of an answer from the ECDH secret and both public keys."""
    return _hkdf(shared, _CONTENT_INFO + epk + public_key)


def seal_answer(
    plaintext: bytes,
    public_key: bytes,
    *,
    ephemeral: bytes | None = None,
    nonce: bytes | None = None,
) -> SealedAnswer:
    """Encrypt ``plaintext`` to the asker's ``public_key`` (from the request link).

    ``ephemeral`` (a scalar) and ``nonce`` are for test vectors only: fresh
    random ones are the only safe choice.

    Raises:
        RequestFormatError: the public key is not a point of P-256.
    """
    peer = check_public_key(public_key)
    key = ec.generate_private_key(_CURVE) if ephemeral is None else _private(ephemeral)
    epk = _point(key)
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    shared = key.exchange(ec.ECDH(), peer)
    ciphertext = AESGCM(content_key(shared, epk, public_key)).encrypt(
        nonce, plaintext, ASSOCIATED_DATA
    )
    return SealedAnswer(ciphertext=ciphertext, envelope=Envelope(nonce=nonce, epk=epk))


def open_answer(ciphertext: bytes, envelope: Envelope, asker: Asker) -> bytes:
    """Decrypt an answer with the asker's private key.

    Raises:
        OpenError: the key is wrong, or the ciphertext or envelope was altered.
    """
    key = _private(asker.private_key[:SCALAR_BYTES])
    shared = key.exchange(ec.ECDH(), check_public_key(envelope.epk))
    try:
        return AESGCM(content_key(shared, envelope.epk, asker.public_key)).decrypt(
            envelope.nonce, ciphertext, ASSOCIATED_DATA
        )
    except (InvalidTag, ValueError):
        raise OpenError from None


def make_request_link(server: str, request_key: str, asker: Asker) -> str:
    """Return the link to send out: the request's URL, the public key as its fragment."""
    return f"{server.rstrip('/')}{REQUESTS_PATH}{request_key}#{asker.request_fragment}"


def make_answer_link(server: str, secret_key: str, asker: Asker) -> str:
    """Return the link the asker keeps: the answer's URL, the private key as its fragment."""
    return f"{server.rstrip('/')}{SECRETS_PATH}{secret_key}#{asker.answer_fragment}"


def is_answer_link(text: str) -> bool:
    """Tell whether ``text`` carries a request-v1 answer fragment (not a sealed-v1 one)."""
    return urlsplit(text.strip()).fragment.startswith(f"{VERSION}.")


def _split(text: str, path: str, what: str) -> tuple[str, str, str]:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RequestFormatError(f"{what} starts with https:// or http://")
    prefix, found, key = parts.path.rstrip("/").rpartition(path)
    if not found or not key or "/" in key:
        raise RequestFormatError(f"{what}'s path ends in {path}<key>")
    server = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    return server, key, parts.fragment


def parse_request_link(text: str) -> RequestLink:
    """Read a request link; a trailing ``/`` and a query are ignored.

    Raises:
        RequestFormatError: it is not ``<server>/requests/<key>#r1.<public key>``,
            or the public key is not a point of P-256.
    """
    server, key, fragment = _split(text, REQUESTS_PATH, "a request link")
    match = _REQUEST_FRAGMENT.fullmatch(fragment)
    if match is None:
        raise RequestFormatError("the link has no request-v1 key after '#' (was it cut short?)")
    public_key = b64decode(match.group(1))
    check_public_key(public_key)
    return RequestLink(server=server, request_key=key, public_key=public_key)


def parse_answer_link(text: str) -> AnswerLink:
    """Read an answer link; a trailing ``/`` and a query are ignored.

    Raises:
        RequestFormatError: it is not ``<server>/secrets/<key>#r1.<d || x || y>``
            with a consistent key pair.
    """
    server, key, fragment = _split(text, SECRETS_PATH, "an answer link")
    match = _ANSWER_FRAGMENT.fullmatch(fragment)
    if match is None:
        raise RequestFormatError("the link has no request-v1 key after '#' (was it cut short?)")
    return AnswerLink(server=server, secret_key=key, asker=asker_of(b64decode(match.group(1))))
