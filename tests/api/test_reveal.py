"""POST and GET /secrets/{secret_key}: exactly once, wrong passphrases, expiry."""

from __future__ import annotations

import pytest

from tests.conftest import Client, MakeClient
from tests.support import FakeClock, assert_error, count_rows, create_secret

NOT_FOUND = {
    "error": "not_found",
    "message": "There is no such secret, or it is no longer available.",
}


def test_right_passphrase_reveals_once(client: Client) -> None:
    """The first read gets the secret; every later read gets the one 404."""
    key = create_secret(client, "hello", "pw").secret_key
    first = client.reveal(key, "pw")
    assert (first.status, first.json) == (200, {"secret": "hello"})
    for _ in range(2):
        again = client.reveal(key, "pw")
        assert (again.status, again.json) == (404, NOT_FOUND)
    assert client.get(f"/secrets/{key}").status == 404


EXACT_TEXTS = {
    "ascii": "hunter2",
    "nul-and-controls": "a\x00b\x1f\x7f",
    "newlines": "line1\r\nline2\n",
    "unicode": "пароль 密码 🔑",
    "whitespace": "  padded  ",
    "json-looking": '{"secret": "nested"}',
}


@pytest.mark.parametrize("secret", EXACT_TEXTS.values(), ids=EXACT_TEXTS.keys())
def test_secret_comes_back_exactly(client: Client, secret: str) -> None:
    """The revealed string is exactly the stored one."""
    key = create_secret(client, secret, "pw").secret_key
    assert client.reveal(key, "pw").json == {"secret": secret}


def test_wrong_passphrase_counts_down_then_destroys(client: Client) -> None:
    """Each wrong passphrase is a 403 with attempts_left; the fifth destroys the secret."""
    key = create_secret(client, "s", "right").secret_key
    for left in (4, 3, 2, 1, 0):
        response = client.reveal(key, "wrong")
        assert_error(response, 403, "wrong_passphrase")
        assert response.json["attempts_left"] == left
    assert client.reveal(key, "right").status == 404
    assert client.get(f"/secrets/{key}").status == 404


def test_wrong_passphrase_does_not_consume(client: Client) -> None:
    """After a wrong passphrase, the right one still reveals the secret."""
    key = create_secret(client, "s", "right").secret_key
    assert client.reveal(key, "wrong").status == 403
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 4
    assert client.reveal(key, "right").json == {"secret": "s"}


def test_passphrase_is_case_and_space_sensitive(client: Client) -> None:
    """Passphrases compare exactly: no trimming, no case folding."""
    key = create_secret(client, "s", "Pass").secret_key
    assert client.reveal(key, "pass").status == 403
    assert client.reveal(key, "Pass ").status == 403
    assert client.reveal(key, "Pass").status == 200


def test_status_check_never_destroys(client: Client, clock: FakeClock) -> None:
    """GET is safe: any number of checks leave the secret readable."""
    key = create_secret(client, "s", "p", ttl=600).secret_key
    for _ in range(10):
        response = client.get(f"/secrets/{key}")
        assert response.status == 200
        assert response.json["state"] == "pending"
        assert response.json["attempts_left"] == 5
        assert response.json["expires_at"].endswith("Z")
    head = client.request("HEAD", f"/secrets/{key}")
    assert head.status == 200
    assert client.reveal(key, "p").status == 200


def test_expired_secret_is_refused_before_any_sweep(client: Client, clock: FakeClock) -> None:
    """At its expiry a secret answers 404, though no sweeper has run."""
    key = create_secret(client, "s", "p", ttl=60).secret_key
    clock.advance(59)
    assert client.get(f"/secrets/{key}").status == 200
    clock.advance(1)
    assert client.get(f"/secrets/{key}").status == 404
    assert client.reveal(key, "p").status == 404
    assert client.reveal(key, "wrong").status == 404


BAD_KEYS = {
    "unknown": "A" * 32,
    "too-short": "abc",
    "too-long": "a" * 300,
    "bad-alphabet": "abc.def+ghi/jkl=mnopqrstuv",
    "percent-nul": "abcdefghijklmnopqrst%00",
    "unicode": "ключключключключключ",
    "dot-dot": "..%2F..%2Fetc%2Fpasswd",
    "spaces": "abcdefghij%20klmnopqrstuv",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_odd_keys_are_404(client: Client, key: str) -> None:
    """Unknown or malformed keys get the same 404, on POST and GET."""
    for response in (client.reveal(key), client.get(f"/secrets/{key}")):
        assert_error(response, 404, "not_found")


BAD_REVEAL_BODIES = {
    "not-json": (b"pass", 400, "invalid_json"),
    "array": (b'["p"]', 400, "invalid_json"),
    "missing": (b"{}", 422, "validation_error"),
    "number": (b'{"passphrase": 5}', 422, "validation_error"),
    "empty": (b'{"passphrase": ""}', 422, "validation_error"),
    "surrogate": (rb'{"passphrase": "\ud800"}', 422, "validation_error"),
    "too-long": (b'{"passphrase": "' + b"x" * 1025 + b'"}', 422, "validation_error"),
}


@pytest.mark.parametrize(
    ("body", "status", "code"), BAD_REVEAL_BODIES.values(), ids=BAD_REVEAL_BODIES.keys()
)
def test_bad_reveal_body_keeps_the_secret(
    client: Client, body: bytes, status: int, code: str
) -> None:
    """A malformed reveal request is refused and costs neither the secret nor an attempt."""
    key = create_secret(client, "s", "p").secret_key
    response = client.post(f"/secrets/{key}", content=body)
    assert_error(response, status, code)
    assert client.get(f"/secrets/{key}").json["attempts_left"] == 5
    assert client.reveal(key, "p").status == 200


# Whether creates sweep: as the ASGI entry point builds the app, and as `ots serve` does.
CREATES_SWEEP = {"asgi": True, "ots-serve": False}


@pytest.mark.parametrize("sweep_on_create", CREATES_SWEEP.values(), ids=CREATES_SWEEP.keys())
def test_a_create_sweeps_only_without_a_resident_sweeper(
    make_client: MakeClient, clock: FakeClock, db_url: str, sweep_on_create: bool
) -> None:
    """Under ASGI a create sweeps expired rows (once per interval); under ots serve, never."""
    client = make_client(db_url, sweep_on_create=sweep_on_create)
    create_secret(client, "s", "p", ttl=60)
    expiry = int(clock.now) + 60
    assert count_rows(db_url, f"expires_at = {expiry}") == 1
    clock.advance(3601)  # past the expiry and the interval; the resident sweeper is asleep
    create_secret(client, "trigger", "p")
    assert count_rows(db_url, f"expires_at = {expiry}") == (0 if sweep_on_create else 1)
