"""Requests (docs/request-v1.md) through the HTTP API: ask, answer once, reveal once."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from ots import request, sealed
from ots.quota import StorageGauge
from ots.tokens import TokenLimits
from tests.api.test_access import access_client, bearer, create, issue
from tests.api.test_events import ALLOW_LOCAL, deliver, stop_background_delivery
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, Receiver, assert_error, count_rows, sql

OFF_CURVE = sealed.b64encode(b"\x04" + (1).to_bytes(32, "big") * 2)


def ask(client: Client, **fields: Any) -> tuple[request.Asker, dict[str, Any]]:
    """Make a key pair here, store a request; return the pair and the 201's body."""
    asker = request.new_asker()
    body = {"verifier": sealed.b64encode(asker.verifier), **fields}
    response = client.post("/requests", json=body)
    assert response.status == 201, response.text
    return asker, response.json


def answer(client: Client, key: str, asker: request.Asker, plaintext: bytes) -> Any:
    """Seal ``plaintext`` to the asker and post it as the answer."""
    body = request.seal_answer(plaintext, asker.public_key).body()
    return client.post(f"/requests/{key}/answer", json=body)


def reveal(client: Client, key: str, asker: request.Asker) -> Any:
    """Present the asker's access proof for the answer."""
    return client.post(f"/secrets/{key}", json={"proof": sealed.b64encode(asker.proof)})


def test_ask_answer_reveal_once(client: Client) -> None:
    """A request is answered once, revealed once, and the receipt tells each step."""
    asker, created = ask(client, note="the <b>DB</b> password\nplease", ttl=600)
    assert set(created) == {"request_key", "answer_key", "receipt_key", "expires_at"}
    key, receipt = created["request_key"], created["receipt_key"]
    assert client.get(f"/receipts/{receipt}").json["state"] == "requested"
    status = client.get(f"/requests/{key}").json
    assert (status["state"], status["note"]) == ("open", "the <b>DB</b> password\nplease")
    assert status["max_secret_bytes"] == 65536
    answered = answer(client, key, asker, b"s3cret \x00 bytes")
    assert answered.status == 201, answered.text
    assert answered.json["state"] == "answered"
    assert_error(answer(client, key, asker, b"late"), 409, "already_answered")
    after = client.get(f"/requests/{key}").json
    assert (after["state"], after["note"]) == ("answered", None)
    shown = client.get(f"/receipts/{receipt}").json
    assert shown["state"] == "answered" and shown["answered_at"] is not None
    opened = reveal(client, created["answer_key"], asker)
    assert opened.status == 200, opened.text
    envelope = request.Envelope.from_json(opened.json["envelope"])
    plaintext = request.open_answer(sealed.b64decode(opened.json["ciphertext"]), envelope, asker)
    assert plaintext == b"s3cret \x00 bytes"
    assert_error(reveal(client, created["answer_key"], asker), 404, "not_found")
    assert client.get(f"/receipts/{receipt}").json["state"] == "revealed"


def test_an_off_curve_answer_is_kept_and_refused_by_the_askers_client(client: Client) -> None:
    """The server keeps the envelope as given; the asker's client refuses a point off P-256."""
    asker, created = ask(client)
    body = {"ciphertext": "A" * 40, "envelope": {**GOOD_ENVELOPE, "epk": OFF_CURVE}}
    assert client.post(f"/requests/{created['request_key']}/answer", json=body).status == 201
    opened = reveal(client, created["answer_key"], asker)
    with pytest.raises(request.RequestFormatError):
        request.Envelope.from_json(opened.json["envelope"])


def test_the_request_link_alone_cannot_read(client: Client) -> None:
    """The request key is no answer key, and a proof from anything but the private key fails."""
    asker, created = ask(client)
    key = created["request_key"]
    assert answer(client, key, asker, b"only for the asker").status == 201
    assert_error(client.post(f"/secrets/{key}", json={"proof": "A" * 43}), 404, "not_found")
    stranger = request.new_asker()
    wrong = reveal(client, created["answer_key"], stranger)
    assert_error(wrong, 403, "wrong_passphrase")
    assert reveal(client, created["answer_key"], asker).status == 200


def test_burned_before_the_answer_takes_none(client: Client) -> None:
    """A request burned by its receipt is gone: its link answers 404, and so does an answer."""
    asker, created = ask(client, note="gone soon")
    burned = client.post(f"/receipts/{created['receipt_key']}/burn")
    assert (burned.status, burned.json) == (200, {"state": "burned"})
    key = created["request_key"]
    assert_error(client.get(f"/requests/{key}"), 404, "not_found")
    assert_error(answer(client, key, asker, b"too late"), 404, "not_found")
    assert client.get(f"/receipts/{created['receipt_key']}").json["state"] == "burned"
    assert_error(client.post(f"/receipts/{created['receipt_key']}/burn"), 409, "not_pending")


def test_an_answer_can_be_burned_like_any_secret(client: Client) -> None:
    """Once answered, the receipt's burn destroys the answer."""
    asker, created = ask(client)
    assert answer(client, created["request_key"], asker, b"x").status == 201
    assert client.post(f"/receipts/{created['receipt_key']}/burn").status == 200
    assert_error(reveal(client, created["answer_key"], asker), 404, "not_found")


def test_unanswered_request_expires(client: Client, clock: FakeClock) -> None:
    """Past its expiry a request takes no answer, and its receipt reads expired."""
    asker, created = ask(client, ttl=60, note="a note to erase")
    clock.advance(61)
    assert_error(answer(client, created["request_key"], asker, b"x"), 404, "not_found")
    assert client.get(f"/receipts/{created['receipt_key']}").json["state"] == "expired"
    assert_error(client.get(f"/requests/{created['request_key']}"), 404, "not_found")


def test_the_sweep_removes_expired_requests_answered_or_not(
    make_client: MakeClient, clock: FakeClock, db_url: str
) -> None:
    """An expired request leaves no row (nor note) behind, answered or not; its receipt stays."""
    client = make_client(db_url, sweep_on_create=True)
    open_one = ask(client, ttl=60, note="marker-Tapir-note")[1]
    asker, answered = ask(client, ttl=60)
    assert answer(client, answered["request_key"], asker, b"x").status == 201
    assert count_rows(db_url, table="request") == 2
    clock.advance(3601)  # past both expiries and the sweep interval
    assert client.post("/generate", json={"secret": "s", "passphrase": "p"}).status == 201
    assert count_rows(db_url, table="request") == 0
    assert client.get(f"/receipts/{open_one['receipt_key']}").json["state"] == "expired"


@pytest.mark.parametrize("read_at", [59, 60])
def test_the_answer_expires_ttl_after_it_came(
    client: Client, clock: FakeClock, read_at: int
) -> None:
    """The answer lives the request's ttl from its arrival (past the request's), then is gone."""
    asker, created = ask(client, ttl=60)
    clock.advance(50)
    assert answer(client, created["request_key"], asker, b"x").status == 201
    clock.advance(read_at)
    opened = reveal(client, created["answer_key"], asker)
    if read_at < 60:
        assert opened.status == 200, opened.text
    else:
        assert_error(opened, 404, "not_found")
        assert client.get(f"/receipts/{created['receipt_key']}").json["state"] == "expired"


def test_size_limit_is_the_secret_inside(make_client: MakeClient, db_url: str) -> None:
    """An answer over OTS_MAX_SECRET_BYTES is 413; at the limit it is stored."""
    client = make_client(db_url, max_secret_bytes=16)
    asker, created = ask(client)
    key = created["request_key"]
    assert_error(answer(client, key, asker, b"x" * 17), 413, "payload_too_large")
    assert answer(client, key, asker, b"x" * 16).status == 201


GOOD_ENVELOPE = {"v": "r1", "nonce": "AAECAwQFBgcICQoL", "epk": ""}
BAD_ANSWERS: dict[str, dict[str, Any]] = {
    "no envelope": {"ciphertext": "A" * 40},
    "sealed-v1 envelope": {
        "ciphertext": "A" * 40,
        "envelope": {"v": 1, "nonce": "AAECAwQFBgcICQoL", "kdf": "none"},
    },
    "unknown version": {"ciphertext": "A" * 40, "envelope": {**GOOD_ENVELOPE, "v": "r2"}},
    "compressed epk": {
        "ciphertext": "A" * 40,
        "envelope": {**GOOD_ENVELOPE, "epk": "A" + OFF_CURVE[1:]},
    },
    "short epk": {"ciphertext": "A" * 40, "envelope": {**GOOD_ENVELOPE, "epk": "BAAA"}},
    "bad base64": {"ciphertext": "A=" * 20, "envelope": GOOD_ENVELOPE},
    "tag only": {"ciphertext": "A" * 22, "envelope": GOOD_ENVELOPE},
    "not a string": {"ciphertext": 7, "envelope": GOOD_ENVELOPE},
}


@pytest.mark.parametrize("body", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_bad_answers_are_422_and_take_nothing(client: Client, body: dict[str, Any]) -> None:
    """Bad shapes, encodings, versions and points are refused; the request stays open."""
    asker, created = ask(client)
    if body.get("envelope", {}).get("epk") == "":
        body = {**body, "envelope": {**body["envelope"], "epk": sealed.b64encode(asker.public_key)}}
    response = client.post(f"/requests/{created['request_key']}/answer", json=body)
    assert_error(response, 422, "validation_error")
    assert client.get(f"/requests/{created['request_key']}").json["state"] == "open"


BAD_REQUESTS: dict[str, dict[str, Any]] = {
    "no verifier": {},
    "short verifier": {"verifier": "AAAA"},
    "control in note": {"verifier": "A" * 43, "note": "bell\x07"},
    "long note": {"verifier": "A" * 43, "note": "n" * 501},
    "empty note": {"verifier": "A" * 43, "note": ""},
    "ttl out of range": {"verifier": "A" * 43, "ttl": 10**9},
}


@pytest.mark.parametrize("body", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_422(client: Client, body: dict[str, Any]) -> None:
    """A request needs a verifier; its note is short plain text; its ttl in range."""
    assert_error(client.post("/requests", json=body), 422, "validation_error")


@pytest.mark.parametrize("key", ["unknown-key-but-wellformed-000000", "x", "%2e%2e"])
def test_unknown_requests_are_404(client: Client, key: str) -> None:
    """An unknown or malformed request key is 404 on both routes."""
    assert_error(client.get(f"/requests/{key}"), 404, "not_found")
    body = request.seal_answer(b"x", request.new_asker().public_key).body()
    assert_error(client.post(f"/requests/{key}/answer", json=body), 404, "not_found")


def test_a_token_is_needed_where_creating_needs_one(make_client: MakeClient, db_url: str) -> None:
    """Under OTS_CREATE_ACCESS=token a request needs a token; answering never does."""
    client = make_client(db_url, create_access="token")
    body = {"verifier": sealed.b64encode(request.new_asker().verifier)}
    assert_error(client.post("/requests", json=body), 401, "unauthorized")


def test_the_row_holds_no_key_note_or_plaintext(client: Client, db_url: str) -> None:
    """The request row keeps hashes, a keyed verifier and a sealed note; nothing in the clear."""
    asker, created = ask(client, note="marker-Quokka-note")
    assert answer(client, created["request_key"], asker, b"marker-Quokka-plain").status == 201
    rows = sql(db_url, "SELECT * FROM request") + sql(db_url, "SELECT * FROM secret")
    stored = repr(rows).encode()
    for needle in (
        b"marker-Quokka",
        created["request_key"].encode(),
        created["answer_key"].encode(),
        sealed.b64encode(asker.verifier).encode(),
        asker.verifier.hex().encode(),
    ):
        assert needle not in stored


def test_a_requests_receipt_page_says_requested_then_answered(client: Client) -> None:
    """The receipt page knows a request's states (no page of its own for the request yet)."""
    asker, created = ask(client)
    html = {"Accept": "text/html"}
    page = client.get(f"/receipts/{created['receipt_key']}", headers=html)
    assert page.status == 200 and "waiting for an answer" in page.text
    assert answer(client, created["request_key"], asker, b"x").status == 201
    page = client.get(f"/receipts/{created['receipt_key']}", headers=html)
    assert page.status == 200 and "the answer waits for you" in page.text


def test_open_requests_count_as_live_secrets(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """OTS_MAX_LIVE_SECRETS bounds open requests; an answer takes no second place, a burn frees."""
    client = make_client(db_url, max_live_secrets=2, client_share=Fraction(1))
    asker, first = ask(client)
    second = ask(client)[1]
    # Past the usage estimate's refresh: the database's own count refuses now.
    clock.advance(StorageGauge.REFRESH_SECONDS + 1)
    refused = client.post("/requests", json={"verifier": sealed.b64encode(asker.verifier)})
    assert_error(refused, 507, "storage_full")
    assert_error(
        client.post("/generate", json={"secret": "s", "passphrase": "p"}), 507, "storage_full"
    )
    assert answer(client, first["request_key"], asker, b"x").status == 201
    assert_error(
        client.post("/generate", json={"secret": "s", "passphrase": "p"}), 507, "storage_full"
    )
    assert client.post(f"/receipts/{second['receipt_key']}/burn").status == 200
    assert client.post("/generate", json={"secret": "s", "passphrase": "p"}).status == 201


def test_one_client_cannot_fill_the_instance_with_requests(
    make_client: MakeClient, db_url: str
) -> None:
    """A third of six live secrets is two per client, open requests included."""
    client = make_client(
        db_url, real_ip_header="X-Real-IP", max_live_secrets=6, client_share=Fraction(1, 3)
    )
    alice, bob = {"X-Real-IP": "198.51.100.7"}, {"X-Real-IP": "203.0.113.9"}
    body = {"verifier": sealed.b64encode(request.new_asker().verifier)}
    made = [client.post("/requests", json=body, headers=alice).status for _ in range(3)]
    assert made == [201, 201, 507]
    tiny = {"secret": "x", "passphrase": "p"}
    assert client.post("/generate", json=tiny, headers=alice).status == 507
    assert client.post("/requests", json=body, headers=bob).status == 201


ALICE, BOB = {"X-Real-IP": "192.0.2.1"}, {"X-Real-IP": "203.0.113.9"}


def ask_as(client: Client, headers: dict[str, str]) -> tuple[request.Asker, dict[str, Any]]:
    """Store a request from the client ``headers`` name."""
    asker = request.new_asker()
    body = {"verifier": sealed.b64encode(asker.verifier)}
    made = client.post("/requests", json=body, headers=headers)
    assert made.status == 201, made.text
    return asker, made.json


def answer_as(
    client: Client, key: str, asker: request.Asker, size: int, headers: dict[str, str]
) -> Any:
    """Answer with ``size`` bytes from the client ``headers`` name."""
    body = request.seal_answer(b"a" * size, asker.public_key).body()
    return client.post(f"/requests/{key}/answer", json=body, headers=headers)


def test_an_answer_counts_against_the_askers_share_not_the_answerers(
    make_client: MakeClient, db_url: str
) -> None:
    """The asker's byte share refuses an answer; the answerer's own share is untouched."""
    client = make_client(
        db_url,
        real_ip_header="X-Real-IP",
        max_secret_bytes=1000,
        max_stored_bytes=18000,
        client_share=Fraction(1, 8),  # 2250 bytes a client
    )
    asker, made = ask_as(client, ALICE)
    for _ in range(2):
        stored = client.post(
            "/generate", json={"secret": "x" * 1000, "passphrase": "p"}, headers=ALICE
        )
        assert stored.status == 201
    full = assert_error(
        answer_as(client, made["request_key"], asker, 400, BOB), 507, "storage_full"
    )
    assert "asker" in full["message"]
    bobs = client.post("/generate", json={"secret": "x" * 1000, "passphrase": "p"}, headers=BOB)
    assert bobs.status == 201
    assert answer_as(client, made["request_key"], asker, 100, BOB).status == 201


def test_an_answer_counts_against_the_askers_token(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """A request made with a token: its answer counts against the token's bytes; none needed."""
    client = access_client(make_client, db_url, "token")
    small = issue(client, clock, "small", limits=TokenLimits(max_bytes=100))
    asker = request.new_asker()
    made = client.post(
        "/requests", json={"verifier": sealed.b64encode(asker.verifier)}, headers=bearer(small)
    )
    assert made.status == 201, made.text
    assert create(client, bearer(small), secret="x" * 60).status == 201
    key = made.json["request_key"]
    full = assert_error(answer(client, key, asker, b"y" * 60), 507, "storage_full")
    assert "asker's token quota of 100 bytes" in full["message"]
    listed = client.get("/tokens/self/secrets", headers=bearer(small)).json["secrets"]
    secret_id = next(entry["id"] for entry in listed if entry["state"] == "pending")
    assert (
        client.post(f"/tokens/self/secrets/{secret_id}/burn", headers=bearer(small)).status == 200
    )
    assert answer(client, key, asker, b"y" * 60).status == 201


def test_answering_is_rate_limited_like_creating(make_client: MakeClient, db_url: str) -> None:
    """An answerer's posts count against its own address; another address still answers."""
    client = make_client(db_url, rate_limit="2/minute", real_ip_header="X-Real-IP")
    asker, made = ask_as(client, ALICE)
    unknown = "A" * 32
    assert answer_as(client, unknown, asker, 1, BOB).status == 404
    assert answer_as(client, unknown, asker, 1, BOB).status == 404
    limited = answer_as(client, made["request_key"], asker, 1, BOB)
    assert_error(limited, 429, "rate_limited")
    other = {"X-Real-IP": "198.51.100.20"}
    assert answer_as(client, made["request_key"], asker, 1, other).status == 201


@pytest.mark.parametrize("ending", ["answered", "burned", "expired"])
def test_each_end_of_a_request_reaches_its_webhook(
    make_client: MakeClient, db_url: str, clock: FakeClock, ending: str
) -> None:
    """answered, burned (before an answer) and expired (never answered) are each delivered."""
    client = make_client(db_url, **ALLOW_LOCAL)
    client.run(stop_background_delivery(client))
    with Receiver() as receiver:
        events = ["answered", "burned", "expired"]
        asker, made = ask(client, ttl=60, notify={"url": receiver.url, "events": events})
        if ending == "answered":
            assert answer(client, made["request_key"], asker, b"x").status == 201
        elif ending == "burned":
            assert client.post(f"/receipts/{made['receipt_key']}/burn").status == 200
        else:
            clock.advance(61)
            client.run(client.context.maintenance.sweep())
            assert count_rows(db_url, table="request") == 0
        assert deliver(client) == 1
    assert [event["event"] for event in receiver.events()] == [ending]
