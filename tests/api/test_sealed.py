"""Sealed (zero-knowledge) secrets through the HTTP API, beside passphrase secrets."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ots import crypto, sealed
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, assert_error, create_secret, server_keys, sql


def share(
    client: Client, plaintext: bytes, passphrase: str | None = None, **fields: Any
) -> tuple[sealed.SealedSecret, dict[str, Any]]:
    """Seal ``plaintext`` here, store it; return what the creator holds and the 201's body."""
    secret = sealed.seal(plaintext, passphrase)
    response = client.post("/generate", json={**secret.request(), **fields})
    assert response.status == 201, response.text
    return secret, response.json


def reveal(client: Client, key: str, link_key: bytes, passphrase: str | None = None) -> Any:
    """Present the access proof for ``key``."""
    proof = sealed.derive(link_key, passphrase).proof
    return client.post(f"/secrets/{key}", json={"proof": sealed.b64encode(proof)})


def test_sealed_round_trip_once(client: Client) -> None:
    """The 201 has the usual shape; the proof gets the ciphertext once; it opens here only."""
    secret, created = share(client, b"\x00binary\xff secret\n", ttl=600)
    assert set(created) == {"secret_key", "receipt_key", "expires_at"}
    key = created["secret_key"]
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 5
    first = reveal(client, key, secret.link_key)
    assert first.status == 200
    assert first.json == {
        "ciphertext": sealed.b64encode(secret.ciphertext),
        "envelope": secret.envelope.to_json(),
    }
    envelope = sealed.Envelope.from_json(first.json["envelope"])
    keys = sealed.derive(secret.link_key, None)
    opened = sealed.open_sealed(sealed.b64decode(first.json["ciphertext"]), envelope, keys)
    assert opened == b"\x00binary\xff secret\n"
    assert_error(reveal(client, key, secret.link_key), 404, "not_found")
    receipt = client.get(f"/receipts/{created['receipt_key']}").json
    assert (receipt["state"], receipt["failed_attempts"]) == ("revealed", 0)


def test_wrong_proof_is_a_wrong_passphrase_until_destroyed(client: Client) -> None:
    """A wrong passphrase (so a wrong proof) is a 403 that burns nothing until the last one."""
    secret, created = share(client, b"guarded", "right horse")
    key = created["secret_key"]
    response = reveal(client, key, secret.link_key, "wrong horse")
    wrong = assert_error(response, 403, "wrong_passphrase")
    assert (wrong["attempts_left"], wrong["message"]) == (4, "The passphrase or the link is wrong.")
    assert_error(reveal(client, key, sealed.new_link_key(), "right horse"), 403, "wrong_passphrase")
    assert reveal(client, key, secret.link_key, "right horse").status == 200

    secret, created = share(client, b"doomed")
    key = created["secret_key"]
    lefts = [reveal(client, key, sealed.new_link_key()).json["attempts_left"] for _ in range(5)]
    assert lefts == [4, 3, 2, 1, 0]
    assert_error(reveal(client, key, secret.link_key), 404, "not_found")
    receipt = client.get(f"/receipts/{created['receipt_key']}").json
    assert (receipt["state"], receipt["failed_attempts"]) == ("burned", 5)


def test_modes_side_by_side_on_every_endpoint(client: Client) -> None:
    """A passphrase secret and a sealed one: each answers its own body, refuses the other's."""
    plain = create_secret(client, "plain text", "pw")
    secret, created = share(client, b"sealed text")
    sealed_key = created["secret_key"]
    proof = sealed.b64encode(sealed.derive(secret.link_key, None).proof)
    wrong_mode = client.post(f"/secrets/{sealed_key}", json={"passphrase": "pw"})
    assert assert_error(wrong_mode, 409, "wrong_mode")["message"] == (
        "This secret was sealed by its client: reveal it with its link (ots reveal LINK)."
    )
    wrong_mode = client.post(f"/secrets/{plain.secret_key}", json={"proof": proof})
    assert assert_error(wrong_mode, 409, "wrong_mode")["message"] == (
        "This secret was stored with a passphrase: send the passphrase."
    )
    # Neither mistake counted as a wrong passphrase.
    for key in (plain.secret_key, sealed_key):
        assert client.get(f"/secrets/{key}").json["attempts_left"] == 5
    assert client.reveal(plain.secret_key, "pw").json == {"secret": "plain text"}
    assert client.post(f"/secrets/{sealed_key}", json={"proof": proof}).status == 200
    for receipt in (plain.receipt_key, created["receipt_key"]):
        assert client.get(f"/receipts/{receipt}").json["state"] == "revealed"
    _, burnable = share(client, b"burn me")
    burned = client.post(f"/receipts/{burnable['receipt_key']}/burn")
    assert (burned.status, burned.json) == (200, {"state": "burned"})
    assert client.get(f"/secrets/{burnable['secret_key']}").status == 404


def test_a_body_of_both_kinds_is_refused(client: Client) -> None:
    """Fields of both modes in one body fit both schemas: a oneOf refuses it, and so do we."""
    secret = sealed.seal(b"x")
    both = {**secret.request(), "secret": "s", "passphrase": "p"}
    problem = assert_error(client.post("/generate", json=both), 422, "validation_error")
    assert problem["details"] == [
        {
            "field": "body",
            "message": "fits two kinds of body: send either secret and passphrase "
            "or ciphertext and envelope and verifier",
        }
    ]
    key = create_secret(client, "s", "p").secret_key
    proof = sealed.b64encode(bytes(32))
    refused = client.post(f"/secrets/{key}", json={"passphrase": "p", "proof": proof})
    assert_error(refused, 422, "validation_error")
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 5


GOOD = sealed.seal(b"x").request()
BAD_BODIES = {
    "ciphertext-not-base64url": {**GOOD, "ciphertext": "not base64!" * 4},
    "ciphertext-padded": {**GOOD, "ciphertext": sealed.b64encode(bytes(20)) + "="},
    "ciphertext-stray-bits": {**GOOD, "ciphertext": "A" * 26 + "B"},
    "ciphertext-tag-only": {**GOOD, "ciphertext": sealed.b64encode(bytes(16))},
    "ciphertext-number": {**GOOD, "ciphertext": 12345},
    "envelope-v2": {**GOOD, "envelope": {**GOOD["envelope"], "v": 2}},  # type: ignore[dict-item]
    "envelope-v-true": {**GOOD, "envelope": {**GOOD["envelope"], "v": True}},  # type: ignore[dict-item]
    "envelope-kdf": {**GOOD, "envelope": {**GOOD["envelope"], "kdf": "md5"}},  # type: ignore[dict-item]
    "envelope-nonce": {**GOOD, "envelope": {**GOOD["envelope"], "nonce": "AAAA"}},  # type: ignore[dict-item]
    "envelope-string": {**GOOD, "envelope": "{}"},
    "verifier-short": {**GOOD, "verifier": sealed.b64encode(bytes(31))},
    "verifier-missing": {k: v for k, v in GOOD.items() if k != "verifier"},
    "ttl-out-of-range": {**GOOD, "ttl": 10**9},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_sealed_bodies_are_422(client: Client, body: dict[str, Any]) -> None:
    """Every malformed sealed field is a 422 naming it; nothing is stored."""
    problem = assert_error(client.post("/generate", json=body), 422, "validation_error")
    assert problem["details"]
    assert client.get("/health").status == 200


@pytest.mark.parametrize(
    "proof", ["", "A" * 42 + "B", sealed.b64encode(bytes(16)), 7, None], ids=repr
)
def test_bad_proofs_are_422_and_count_nothing(client: Client, proof: object) -> None:
    """A proof that is not 32 bytes of canonical base64url is refused as such, not counted."""
    _, created = share(client, b"x")
    key = created["secret_key"]
    assert_error(client.post(f"/secrets/{key}", json={"proof": proof}), 422, "validation_error")
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 5


def test_size_limit_counts_the_secret_inside(make_client: MakeClient, db_url: str) -> None:
    """OTS_MAX_SECRET_BYTES bounds the plaintext inside (ciphertext minus its 16-byte tag)."""
    client = make_client(db_url, max_secret_bytes=100)
    assert share(client, bytes(100))[1]["secret_key"]
    too_big = sealed.seal(bytes(101)).request()
    assert_error(client.post("/generate", json=too_big), 413, "payload_too_large")


def test_envelope_is_given_back_as_the_schema_reads_it(client: Client) -> None:
    """Unknown envelope fields are dropped (as everywhere); the known ones come back."""
    secret = sealed.seal(b"x")
    body = secret.request()
    body["envelope"] = {**secret.envelope.to_json(), "comment": "x" * 1000}
    created = client.post("/generate", json=body).json
    revealed = reveal(client, created["secret_key"], secret.link_key).json
    assert revealed["envelope"] == secret.envelope.to_json()


def test_expired_sealed_secret_is_refused_before_the_sweep(
    client: Client, clock: FakeClock
) -> None:
    """The clock decides: past expires_at the proof gets 404, and the receipt says expired."""
    secret, created = share(client, b"x", ttl=60)
    clock.advance(61)
    assert_error(reveal(client, created["secret_key"], secret.link_key), 404, "not_found")
    assert client.get(f"/receipts/{created['receipt_key']}").json["state"] == "expired"


def test_webhook_with_a_sealed_secret(make_client: MakeClient, db_url: str) -> None:
    """A webhook works for sealed secrets as for the others: the 201 adds webhook_secret."""
    client = make_client(db_url, webhook_allow_private=True, webhook_allow_http=True)
    _, created = share(client, b"x", notify={"url": "http://127.0.0.1:9/hook"})
    assert created["webhook_secret"].startswith("whsec_")
    receipt = client.get(f"/receipts/{created['receipt_key']}").json
    assert receipt["notify"]["events"]


def legacy_digest(verifier: bytes) -> str:
    """What releases before keyed verifiers stored: a bare hash, computable from the proof."""
    return hashlib.sha256(b"ots/v1 verifier\0" + verifier).hexdigest()


def test_the_row_holds_nothing_the_client_sent(client: Client, db_url: str) -> None:
    """The stored ciphertext is sealed again; the verifier is kept only keyed (server key)."""
    secret, created = share(client, b"marker-Okapi-51c0-plaintext")
    rows = sql(db_url, "SELECT ciphertext, verifier, kdf_time_cost FROM secret")
    assert len(rows) >= 1
    stored = {bytes(ciphertext): (verifier, cost) for ciphertext, verifier, cost in rows}
    keyed = crypto.keyed_verifier(secret.verifier, server_keys().newest.secret)
    mine = [row for row in stored.items() if row[1][0] == keyed]
    assert len(mine) == 1
    # Nothing a guessed passphrase (so a proof, so a verifier) gives can be compared
    # with the row without the server key.
    for unkeyed in (legacy_digest(secret.verifier), hashlib.sha256(secret.verifier).hexdigest()):
        assert all(unkeyed not in str(verifier) for verifier, _ in stored.values())
    ciphertext, (_, cost) = mine[0]
    assert cost == 0
    assert secret.ciphertext not in ciphertext
    assert secret.envelope.nonce not in ciphertext
    everything = b"".join(bytes(c) + str(v).encode() for c, (v, _) in stored.items())
    for sent in (secret.verifier, sealed.b64encode(secret.verifier).encode(), secret.link_key):
        assert sent not in everything
    assert reveal(client, created["secret_key"], secret.link_key).status == 200


def test_a_row_stored_before_verifiers_were_keyed_still_reveals(
    client: Client, db_url: str
) -> None:
    """A legacy row (bare digest, not upgraded yet): a wrong proof is 403, the right one 200."""
    secret, created = share(client, b"from an older release", "pw")
    sql(db_url, "UPDATE secret SET verifier = ?", legacy_digest(secret.verifier))
    key = created["secret_key"]
    wrong = assert_error(reveal(client, key, secret.link_key, "nope"), 403, "wrong_passphrase")
    assert wrong["attempts_left"] == 4
    assert reveal(client, key, secret.link_key, "pw").status == 200


def test_largest_sealed_body_fits_however_escaped(make_client: MakeClient, db_url: str) -> None:
    """The body limit follows the sealed fields too: every character escaped still fits."""
    client = make_client(db_url, max_secret_bytes=1000)
    secret = sealed.seal(bytes(1000))
    body = json.dumps(secret.request())
    text = sealed.b64encode(secret.ciphertext)
    escaped = body.replace(text, "".join(f"\\u{ord(c):04x}" for c in text))
    assert len(escaped) > 6 * 1000
    response = client.post("/generate", content=escaped.encode())
    assert response.status == 201, response.text
    assert reveal(client, response.json["secret_key"], secret.link_key).status == 200
