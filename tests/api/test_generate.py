"""POST /generate: what is accepted, what is refused, and how."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from ots.config import Settings
from tests.conftest import Client
from tests.support import FakeClock, assert_error, chunked, raw_request

KEY = re.compile(r"[A-Za-z0-9_-]{22,}")
MAX = 65536


def test_created_secret_has_keys_and_expiry(client: Client, clock: FakeClock) -> None:
    """201 carries a URL-safe key of at least 128 bits and a UTC expiry ttl seconds ahead."""
    response = client.post("/generate", json={"secret": "x", "passphrase": "p", "ttl": 3600})
    assert response.status == 201
    body = response.json
    assert set(body) == {"secret_key", "receipt_key", "expires_at"}
    assert KEY.fullmatch(body["secret_key"])
    assert KEY.fullmatch(body["receipt_key"])
    assert body["secret_key"] != body["receipt_key"]
    assert len(body["secret_key"]) * 6 >= 128
    assert body["expires_at"].endswith("Z")
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires.timestamp() == int(clock.now) + 3600
    assert response.headers["content-type"] == "application/json"


def test_default_ttl_is_applied(client: Client, clock: FakeClock) -> None:
    """Without ttl the secret lives OTS_DEFAULT_TTL seconds."""
    body = client.post("/generate", json={"secret": "x", "passphrase": "p"}).json
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires.timestamp() == int(clock.now) + 604800


def test_every_key_is_different(client: Client) -> None:
    """Keys never repeat."""
    keys: set[str] = set()
    for _ in range(20):
        body = client.post("/generate", json={"secret": "s", "passphrase": "p"}).json
        keys |= {body["secret_key"], body["receipt_key"]}
    assert len(keys) == 40


INVALID_JSON = {
    "not-json": b"secret=x&passphrase=y",
    "array": b"[1, 2]",
    "string": b'"hello"',
    "null": b"null",
    "empty": b"",
    "nan": b'{"secret": "a", "passphrase": "b", "ttl": NaN}',
    "infinity": b'{"secret": "a", "passphrase": "b", "ttl": Infinity}',
    "truncated": b'{"secret": "a", "passp',
    "bad-utf8": b'{"secret": "\xff\xfe", "passphrase": "b"}',
    "deep-nesting": b'{"secret": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "trailing-garbage": b'{"secret": "a", "passphrase": "b"} x',
}


@pytest.mark.parametrize("body", INVALID_JSON.values(), ids=INVALID_JSON.keys())
def test_invalid_json_is_400(client: Client, body: bytes) -> None:
    """A body that is not one JSON object gets 400 invalid_json."""
    response = client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_json")


INVALID_FIELDS = {
    "missing-secret": ({"passphrase": "p"}, "secret"),
    "missing-passphrase": ({"secret": "s"}, "passphrase"),
    "secret-number": ({"secret": 1, "passphrase": "p"}, "secret"),
    "secret-null": ({"secret": None, "passphrase": "p"}, "secret"),
    "secret-object": ({"secret": {"a": 1}, "passphrase": "p"}, "secret"),
    "passphrase-list": ({"secret": "s", "passphrase": ["p"]}, "passphrase"),
    "empty-secret": ({"secret": "", "passphrase": "p"}, "secret"),
    "empty-passphrase": ({"secret": "s", "passphrase": ""}, "passphrase"),
    "long-passphrase": ({"secret": "s", "passphrase": "p" * 1025}, "passphrase"),
    "ttl-string": ({"secret": "s", "passphrase": "p", "ttl": "60"}, "ttl"),
    "ttl-bool": ({"secret": "s", "passphrase": "p", "ttl": True}, "ttl"),
    "ttl-float": ({"secret": "s", "passphrase": "p", "ttl": 60.5}, "ttl"),
    "ttl-zero": ({"secret": "s", "passphrase": "p", "ttl": 0}, "ttl"),
    "ttl-negative": ({"secret": "s", "passphrase": "p", "ttl": -5}, "ttl"),
    "ttl-over-max": ({"secret": "s", "passphrase": "p", "ttl": 2592001}, "ttl"),
    "ttl-huge": ({"secret": "s", "passphrase": "p", "ttl": 10**400}, "ttl"),
    "ttl-huge-negative": ({"secret": "s", "passphrase": "p", "ttl": -(10**400)}, "ttl"),
}


@pytest.mark.parametrize(("payload", "field"), INVALID_FIELDS.values(), ids=INVALID_FIELDS.keys())
def test_invalid_fields_are_422(client: Client, payload: dict[str, object], field: str) -> None:
    """A missing, mistyped, empty or out-of-range field gets 422 naming the field."""
    response = client.post("/generate", content=json.dumps(payload).encode())
    body = assert_error(response, 422, "validation_error")
    details = body["details"]
    assert isinstance(details, list)
    assert field in {d["field"] for d in details}
    assert all(set(d) == {"field", "message"} for d in details)


SURROGATES = {
    "lone-high-in-secret": rb'{"secret": "a\ud800b", "passphrase": "p"}',
    "lone-low-in-passphrase": rb'{"secret": "a", "passphrase": "\udc00"}',
    "reversed-pair": rb'{"secret": "\udc00\ud800", "passphrase": "p"}',
}


@pytest.mark.parametrize("body", SURROGATES.values(), ids=SURROGATES.keys())
def test_unencodable_text_is_422(client: Client, body: bytes) -> None:
    """Lone UTF-16 surrogates cannot be stored as UTF-8: 422, never 500."""
    assert_error(client.post("/generate", content=body), 422, "validation_error")


def test_secret_over_the_byte_limit_is_413(client: Client) -> None:
    """The limit counts UTF-8 bytes: 32769 two-byte characters are over 65536."""
    response = client.post("/generate", json={"secret": "é" * (MAX // 2 + 1), "passphrase": "p"})
    assert_error(response, 413, "payload_too_large")


OVERSIZED_HEADS = {
    "content-length": b"Content-Length: 10000000\r\n",
    "chunked": b"Transfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("framing", OVERSIZED_HEADS.values(), ids=OVERSIZED_HEADS.keys())
def test_body_over_the_request_limit_is_413(client: Client, framing: bytes) -> None:
    """A 10 MB body is refused with 413 before the server has read it all."""
    head = (
        b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + framing
        + b"\r\n"
    )
    # Declared length: nothing of the body is sent. Chunked: just past the limit,
    # so the server must count it, yet has read every byte it was sent (a server
    # that closes with unread input resets the connection and loses its answer).
    prefix = b""
    if b"chunked" in framing:
        prefix = chunked(Settings().request_max_bytes + 1)
    status, headers, body = client.run(raw_request(client.base, head, prefix))
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"
    assert headers["cache-control"] == "no-store"


WORST_CASE_SECRETS = {
    "control-chars": "\x01" * MAX,  # 1 byte each, escaped as \u0001 (6 bytes)
    "two-byte": "é" * (MAX // 2),  # 2 bytes each, escaped as \u00e9
    "astral": "😀" * (MAX // 4),  # 4 bytes each, escaped as a surrogate pair
}


@pytest.mark.parametrize("secret", WORST_CASE_SECRETS.values(), ids=WORST_CASE_SECRETS.keys())
def test_secret_at_the_limit_is_accepted_however_escaped(client: Client, secret: str) -> None:
    """A secret of exactly the limit is stored even when every character is escaped."""
    passphrase = "😀" * 1024
    body = json.dumps({"secret": secret, "passphrase": passphrase, "ttl": 60}).encode()
    response = client.post("/generate", content=body)
    assert response.status == 201, response.text
    revealed = client.reveal(response.json["secret_key"], passphrase)
    assert revealed.json["secret"] == secret


CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]


@pytest.mark.parametrize("content_type", CONTENT_TYPES, ids=CONTENT_TYPES)
def test_json_is_read_whatever_the_content_type(client: Client, content_type: str) -> None:
    """Scripts that forget the header (curl -d) still work: the body is read as JSON."""
    body = json.dumps({"secret": "s", "passphrase": "p"}).encode()
    response = client.post("/generate", content=body, headers={"content-type": content_type})
    assert response.status == 201


def test_unknown_fields_are_ignored(client: Client) -> None:
    """Extra fields neither break nor change anything."""
    response = client.post("/generate", json={"secret": "s", "passphrase": "p", "extra": [1]})
    assert response.status == 201


def test_null_ttl_means_the_default(client: Client, clock: FakeClock) -> None:
    """An explicit ttl of null is the same as leaving it out."""
    body = client.post("/generate", json={"secret": "x", "passphrase": "p", "ttl": None}).json
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires.timestamp() == int(clock.now) + 604800


def test_request_models_do_not_print_their_content() -> None:
    """A request model in a log or traceback shows neither the secret nor the passphrase."""
    from ots.api.schemas import GenerateRequest, RevealRequest

    shown = repr(GenerateRequest(secret="s3cr3t-value", passphrase="pa55-value"))
    shown += repr(RevealRequest(passphrase="pa55-value"))
    assert "s3cr3t-value" not in shown
    assert "pa55-value" not in shown
