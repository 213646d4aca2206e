"""The sealed-v1 format: the published test vectors, links, encodings and refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ots import sealed

SPEC = Path(__file__).resolve().parents[2] / "docs" / "sealed-v1.md"
SERVER = "https://ots.example.org"
SECRET_KEY = "2cBvq0Xl8yQe4pWzT1sJr6uNa9dKfHgM"


def vectors() -> list[dict[str, Any]]:
    """The JSON block under "Test vectors" in docs/sealed-v1.md."""
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
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["name"])
def test_vectors_follow_the_written_steps(vector: dict[str, Any]) -> None:
    """Each vector, recomputed from primitives by the document's steps, matches its values."""
    link_key = bytes.fromhex(vector["link_key"])
    nonce = bytes.fromhex(vector["nonce"])
    plaintext = bytes.fromhex(vector["plaintext"])
    passphrase = vector["passphrase"]
    ikm = link_key
    if passphrase is not None:
        salt = hashlib.sha256(b"ots sealed-v1 salt\0" + link_key).digest()[:16]
        assert salt.hex() == vector["argon2id_salt"]
        stretched = hash_secret_raw(
            passphrase.encode(), salt, 3, 65536, 4, 32, Type.ID, version=0x13
        )
        assert stretched.hex() == vector["argon2id_output"]
        ikm += stretched
    content_key = hkdf(ikm, b"ots sealed-v1 content key")
    proof = hkdf(ikm, b"ots sealed-v1 access proof")
    verifier = hashlib.sha256(b"ots sealed-v1 verifier\0" + proof).digest()
    ciphertext = AESGCM(content_key).encrypt(nonce, plaintext, b"ots sealed-v1")
    assert content_key.hex() == vector["content_key"]
    assert proof.hex() == vector["proof"]
    assert verifier.hex() == vector["verifier"]
    assert ciphertext.hex() == vector["ciphertext"]
    fragment = "v1." + b64url(link_key) + (".p" if passphrase is not None else "")
    assert vector["fragment"] == fragment
    assert vector["link"] == f"{SERVER}/secrets/{SECRET_KEY}#{fragment}"
    assert vector["generate_body"] == {
        "ciphertext": b64url(ciphertext),
        "envelope": {
            "v": 1,
            "nonce": b64url(nonce),
            "kdf": "none" if passphrase is None else "argon2id",
        },
        "verifier": b64url(verifier),
    }
    assert vector["reveal_body"] == {"proof": b64url(proof)}


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: v["name"])
def test_reference_implementation_gives_the_vectors(vector: dict[str, Any]) -> None:
    """ots.sealed seals, links, parses and opens exactly as the vectors say."""
    link_key = bytes.fromhex(vector["link_key"])
    passphrase = vector["passphrase"]
    made = sealed.seal(
        bytes.fromhex(vector["plaintext"]),
        passphrase,
        link_key=link_key,
        nonce=bytes.fromhex(vector["nonce"]),
    )
    assert made.request() == vector["generate_body"]
    assert made.fragment == vector["fragment"]
    assert sealed.make_link(SERVER + "/", SECRET_KEY, made.fragment) == vector["link"]
    link = sealed.parse_link(vector["link"])
    assert (link.server, link.secret_key, link.link_key) == (SERVER, SECRET_KEY, link_key)
    assert link.needs_passphrase is (passphrase is not None)
    keys = sealed.derive(link.link_key, passphrase)
    assert sealed.b64encode(keys.proof) == vector["reveal_body"]["proof"]
    envelope = sealed.Envelope.from_json(vector["generate_body"]["envelope"])
    ciphertext = sealed.b64decode(vector["generate_body"]["ciphertext"])
    assert sealed.open_sealed(ciphertext, envelope, keys).hex() == vector["plaintext"]


def test_fresh_seals_differ_and_open_only_with_their_keys() -> None:
    """Two seals of one text share nothing; another key or passphrase does not open either."""
    first, second = sealed.seal(b"same"), sealed.seal(b"same", "pw")
    assert first.link_key != second.link_key
    assert first.ciphertext != second.ciphertext
    assert first.verifier != second.verifier
    keys = sealed.derive(second.link_key, "pw")
    assert sealed.open_sealed(second.ciphertext, second.envelope, keys) == b"same"
    for wrong in (sealed.derive(second.link_key, "PW"), sealed.derive(first.link_key, None)):
        with pytest.raises(sealed.OpenError):
            sealed.open_sealed(second.ciphertext, second.envelope, wrong)
    tampered = bytes([second.ciphertext[0] ^ 1]) + second.ciphertext[1:]
    with pytest.raises(sealed.OpenError):
        sealed.open_sealed(tampered, second.envelope, keys)


def test_nothing_secret_in_reprs() -> None:
    """Link keys, content keys and proofs never show in a repr (logs, tracebacks)."""
    made = sealed.seal(b"x")
    link = sealed.parse_link(sealed.make_link(SERVER, SECRET_KEY, made.fragment))
    keys = sealed.derive(made.link_key, None)
    shown = repr(made) + repr(link) + repr(keys) + str(keys)
    for hidden in (made.link_key, keys.content_key, keys.proof):
        assert sealed.b64encode(hidden) not in shown
        assert hidden.hex() not in shown


@pytest.mark.parametrize(
    "text", ["A", "AB", "ABC", "AA==", "AA=", "A+/A", "AAA AAA", "ÄÄÄÄ", "AAAAB"], ids=repr
)
def test_b64decode_refuses_every_other_spelling(text: str) -> None:
    """One value, one spelling: padding, stray bits, other alphabets are refused."""
    with pytest.raises(sealed.SealedFormatError):
        sealed.b64decode(text)


def test_b64_round_trip_and_lengths() -> None:
    """Every length round-trips, and b64_chars gives the encoded length."""
    for size in range(70):
        data = bytes(range(size))
        text = sealed.b64encode(data)
        assert sealed.b64decode(text) == data
        assert len(text) == sealed.b64_chars(size)


GOOD_LINK = f"{SERVER}/secrets/{SECRET_KEY}#v1.{'A' * 43}"
BAD_LINKS = {
    "no-scheme": f"ots.example.org/secrets/{SECRET_KEY}#v1.{'A' * 43}",
    "ftp": GOOD_LINK.replace("https", "ftp"),
    "no-fragment": GOOD_LINK.split("#")[0],
    "cut-short": GOOD_LINK[:-3],
    "v2": GOOD_LINK.replace("#v1.", "#v2."),
    "stray-bits": GOOD_LINK[:-1] + "B",
    "other-mark": GOOD_LINK + ".x",
    "not-secrets": GOOD_LINK.replace("/secrets/", "/receipts/"),
    "no-key": f"{SERVER}/secrets/#v1.{'A' * 43}",
    "deeper": f"{SERVER}/secrets/{SECRET_KEY}/burn#v1.{'A' * 43}",
}


@pytest.mark.parametrize("text", BAD_LINKS.values(), ids=BAD_LINKS.keys())
def test_parse_link_refuses_what_is_not_a_sealed_link(text: str) -> None:
    """Each malformed link is a SealedFormatError that says what is wrong."""
    with pytest.raises(sealed.SealedFormatError):
        sealed.parse_link(text)


def test_parse_link_keeps_a_path_prefix_and_spaces_around() -> None:
    """A server under a path (behind a proxy) keeps it; whitespace from a paste is dropped."""
    link = sealed.parse_link(f"  http://host:8080/ots/secrets/{SECRET_KEY}#v1.{'A' * 43}.p\n")
    assert (link.server, link.secret_key, link.needs_passphrase) == (
        "http://host:8080/ots",
        SECRET_KEY,
        True,
    )
    assert sealed.is_link(GOOD_LINK)
    assert not sealed.is_link(SECRET_KEY)


TOLERATED = {
    "trailing-slash": f"{SERVER}/secrets/{SECRET_KEY}/#v1.{'A' * 43}",
    "query": f"{SERVER}/secrets/{SECRET_KEY}?utm_source=chat#v1.{'A' * 43}",
    "both": f"{SERVER}/secrets/{SECRET_KEY}//?a=b#v1.{'A' * 43}",
}


@pytest.mark.parametrize("text", TOLERATED.values(), ids=TOLERATED.keys())
def test_parse_link_ignores_what_is_added_on_the_way(text: str) -> None:
    """A trailing slash or a query string added by a chat app leaves the link usable."""
    link = sealed.parse_link(text)
    assert (link.server, link.secret_key) == (SERVER, SECRET_KEY)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {"v": 2, "nonce": "A" * 16, "kdf": "none"},
        {"v": 1, "nonce": "A" * 16, "kdf": "scrypt"},
        {"v": 1, "nonce": "A" * 15, "kdf": "none"},
        {"v": 1, "nonce": "A" * 20, "kdf": "none"},
        {"v": 1, "kdf": "none"},
    ],
    ids=repr,
)
def test_envelope_from_json_refuses_other_versions_and_shapes(value: object) -> None:
    """A client refuses an envelope it does not know, before any decryption."""
    with pytest.raises(sealed.SealedFormatError):
        sealed.Envelope.from_json(value)


def test_derive_wants_a_32_byte_link_key() -> None:
    """A link key of another length is refused, not stretched or cut."""
    with pytest.raises(sealed.SealedFormatError):
        sealed.derive(bytes(16), None)
