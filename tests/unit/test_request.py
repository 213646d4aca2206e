"""The request-v1 format: the published test vectors, links, keys and refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ots import request, sealed

SPEC = Path(__file__).resolve().parents[2] / "docs" / "request-v1.md"
SERVER = "https://ots.example.org"
REQUEST_KEY = "Qm4xT8vJp2Lz6WcN0rYs3KdA9fHgE1uB"
ANSWER_KEY = "2cBvq0Xl8yQe4pWzT1sJr6uNa9dKfHgM"
# A point of the right shape that is not on P-256 (x = 1, y = 1).
OFF_CURVE = b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big")


def vectors() -> list[dict[str, Any]]:
    """The JSON block under "Test vectors" in docs/request-v1.md."""
    text = SPEC.read_text().split("## Test vectors", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert block is not None
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def hkdf(ikm: bytes, info: bytes) -> bytes:
    """RFC 5869 HKDF-SHA256 without a salt, 32 bytes: written out, not cryptography's."""
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def b64url(data: bytes) -> str:
    """base64url without padding, by hand from the standard library."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The uncompressed point of ``key``'s public key (SEC 1)."""
    numbers = key.public_key().public_numbers()
    return b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["name"])
def test_vectors_follow_the_written_steps(vector: dict[str, Any]) -> None:
    """Each vector, recomputed from primitives by the document's steps, matches its values."""
    d = bytes.fromhex(vector["private_scalar"])
    e = bytes.fromhex(vector["ephemeral_scalar"])
    nonce = bytes.fromhex(vector["nonce"])
    plaintext = bytes.fromhex(vector["plaintext"])
    asker = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
    ephemeral = ec.derive_private_key(int.from_bytes(e, "big"), ec.SECP256R1())
    q, epk = point(asker), point(ephemeral)
    shared = ephemeral.exchange(ec.ECDH(), asker.public_key())
    assert shared == asker.exchange(ec.ECDH(), ephemeral.public_key())
    content_key = hkdf(shared, b"ots request-v1 content key" + epk + q)
    proof = hkdf(d, b"ots request-v1 access proof")
    verifier = hashlib.sha256(b"ots sealed-v1 verifier\0" + proof).digest()
    ciphertext = AESGCM(content_key).encrypt(nonce, plaintext, b"ots request-v1")
    assert q.hex() == vector["public_key"]
    assert epk.hex() == vector["ephemeral_public_key"]
    assert shared.hex() == vector["shared_secret"]
    assert content_key.hex() == vector["content_key"]
    assert proof.hex() == vector["proof"]
    assert verifier.hex() == vector["verifier"]
    assert ciphertext.hex() == vector["ciphertext"]
    assert vector["request_body"] == {"verifier": b64url(verifier)}
    assert vector["request_link"] == f"{SERVER}/requests/{REQUEST_KEY}#r1.{b64url(q)}"
    assert vector["answer_body"] == {
        "ciphertext": b64url(ciphertext),
        "envelope": {"v": "r1", "nonce": b64url(nonce), "epk": b64url(epk)},
    }
    assert vector["reveal_body"] == {"proof": b64url(proof)}
    assert vector["answer_link"] == f"{SERVER}/secrets/{ANSWER_KEY}#r1.{b64url(d + q[1:])}"


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["name"])
def test_reference_implementation_gives_the_vectors(vector: dict[str, Any]) -> None:
    """ots.request seals, links and opens exactly as the vectors say."""
    asker = request.new_asker(bytes.fromhex(vector["private_scalar"]))
    answer = request.seal_answer(
        bytes.fromhex(vector["plaintext"]),
        asker.public_key,
        ephemeral=bytes.fromhex(vector["ephemeral_scalar"]),
        nonce=bytes.fromhex(vector["nonce"]),
    )
    assert answer.body() == vector["answer_body"]
    assert sealed.b64encode(asker.verifier) == vector["request_body"]["verifier"]
    assert request.make_request_link(SERVER, REQUEST_KEY, asker) == vector["request_link"]
    assert request.make_answer_link(SERVER + "/", ANSWER_KEY, asker) == vector["answer_link"]
    parsed = request.parse_answer_link(vector["answer_link"])
    assert (parsed.server, parsed.secret_key, parsed.asker) == (SERVER, ANSWER_KEY, asker)
    link = request.parse_request_link(vector["request_link"])
    assert (link.server, link.request_key, link.public_key) == (
        SERVER,
        REQUEST_KEY,
        asker.public_key,
    )
    envelope = request.Envelope.from_json(vector["answer_body"]["envelope"])
    opened = request.open_answer(answer.ciphertext, envelope, parsed.asker)
    assert opened.hex() == vector["plaintext"]


def test_fresh_answers_open_only_with_the_askers_key() -> None:
    """Fresh keys and nonces differ each time; another asker's key opens nothing."""
    asker, other = request.new_asker(), request.new_asker()
    first = request.seal_answer(b"s3cret", asker.public_key)
    second = request.seal_answer(b"s3cret", asker.public_key)
    assert first.ciphertext != second.ciphertext
    assert first.envelope.epk != second.envelope.epk
    assert request.open_answer(first.ciphertext, first.envelope, asker) == b"s3cret"
    with pytest.raises(sealed.OpenError):
        request.open_answer(first.ciphertext, first.envelope, other)
    altered = bytes([first.ciphertext[0] ^ 1]) + first.ciphertext[1:]
    with pytest.raises(sealed.OpenError):
        request.open_answer(altered, first.envelope, asker)


def test_nothing_secret_in_reprs() -> None:
    """Neither the key pair, a parsed answer link nor an answer prints a key or content."""
    asker = request.new_asker()
    link = request.parse_answer_link(request.make_answer_link(SERVER, ANSWER_KEY, asker))
    answer = request.seal_answer(b"hunter2", asker.public_key)
    shown = repr(asker) + repr(link) + repr(answer)
    assert asker.answer_fragment[3:20] not in shown
    assert ANSWER_KEY not in shown
    assert "bytes" in repr(answer)


def test_a_public_key_off_the_curve_is_refused() -> None:
    """The answering client refuses a point that is not on P-256, or not uncompressed."""
    for bad in (OFF_CURVE, OFF_CURVE[:-1], b"\x02" + OFF_CURVE[1:]):
        with pytest.raises(request.RequestFormatError):
            request.seal_answer(b"x", bad)
    link = f"{SERVER}/requests/{REQUEST_KEY}#r1.{b64url(OFF_CURVE)}"
    with pytest.raises(request.RequestFormatError, match="not a point"):
        request.parse_request_link(link)


GOOD = request.new_asker(bytes(31) + b"\x07")
BAD_LINKS = {
    "no fragment": f"{SERVER}/requests/{REQUEST_KEY}",
    "sealed fragment": f"{SERVER}/requests/{REQUEST_KEY}#v1.{'A' * 43}",
    "short fragment": f"{SERVER}/requests/{REQUEST_KEY}#{GOOD.request_fragment[:-1]}",
    "not http": f"ftp://ots.example.org/requests/{REQUEST_KEY}#{GOOD.request_fragment}",
    "other path": f"{SERVER}/secrets/{REQUEST_KEY}#{GOOD.request_fragment}",
    "no key": f"{SERVER}/requests/#{GOOD.request_fragment}",
}


@pytest.mark.parametrize("text", BAD_LINKS.values(), ids=BAD_LINKS.keys())
def test_parse_request_link_refuses_what_is_not_one(text: str) -> None:
    """Anything but <server>/requests/<key>#r1.<point> is refused with a reason."""
    with pytest.raises(request.RequestFormatError):
        request.parse_request_link(text)


def test_parse_request_link_keeps_a_path_prefix() -> None:
    """A server under a path prefix keeps it; a query and a trailing slash are dropped."""
    link = request.parse_request_link(
        f" https://x.example/ots/requests/{REQUEST_KEY}/?a=1#{GOOD.request_fragment} "
    )
    assert (link.server, link.request_key) == ("https://x.example/ots", REQUEST_KEY)


def test_an_answer_link_must_hold_a_matching_key_pair() -> None:
    """A private scalar out of range, or a public part not its own, is refused."""
    other = request.new_asker()
    mixed = GOOD.private_key[:32] + other.public_key[1:]
    zero = bytes(32) + GOOD.private_key[32:]
    too_big = (request.ORDER).to_bytes(32, "big") + GOOD.private_key[32:]
    for key in (mixed, zero, too_big, GOOD.private_key[:-1]):
        with pytest.raises(request.RequestFormatError):
            request.asker_of(key)
    for key in (mixed, zero):
        with pytest.raises(request.RequestFormatError):
            request.parse_answer_link(f"{SERVER}/secrets/{ANSWER_KEY}#r1.{b64url(key)}")
    with pytest.raises(request.RequestFormatError):
        request.parse_answer_link(f"{SERVER}/secrets/{ANSWER_KEY}#v1.{'A' * 43}")
    assert request.is_answer_link(request.make_answer_link(SERVER, ANSWER_KEY, GOOD))
    assert not request.is_answer_link(f"{SERVER}/secrets/{ANSWER_KEY}#v1.{'A' * 43}")


ENVELOPES = {
    "not an object": "r1",
    "sealed-v1": {"v": 1, "nonce": "AAECAwQFBgcICQoL", "kdf": "none"},
    "short nonce": {"v": "r1", "nonce": "AAECAwQF", "epk": b64url(GOOD.public_key)},
    "bad base64": {"v": "r1", "nonce": "AAECAwQFBgcICQo=", "epk": b64url(GOOD.public_key)},
    "off curve": {"v": "r1", "nonce": "AAECAwQFBgcICQoL", "epk": b64url(OFF_CURVE)},
}


@pytest.mark.parametrize("value", ENVELOPES.values(), ids=ENVELOPES.keys())
def test_envelope_from_json_refuses_other_versions_and_shapes(value: object) -> None:
    """An envelope of another version, or of a bad shape, is not read."""
    with pytest.raises(request.RequestFormatError):
        request.Envelope.from_json(value)
