"""GET /receipts/{receipt_key} and POST /receipts/{receipt_key}/burn."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Client
from tests.support import (
    BROWSER_ACCEPT,
    Created,
    FakeClock,
    assert_error,
    count_rows,
    create_secret,
)

RETENTION = 604800


def receipt(client: Client, created: Created) -> Any:
    """Fetch the receipt of ``created``."""
    return client.get(f"/receipts/{created.receipt_key}")


def burn(client: Client, created: Created) -> Any:
    """Burn the secret of ``created``."""
    return client.post(f"/receipts/{created.receipt_key}/burn")


def test_pending_receipt_shows_state_and_times_only(client: Client, clock: FakeClock) -> None:
    """A fresh receipt is pending, with times and no secret material."""
    created = create_secret(client, "top", "pw", ttl=600)
    response = receipt(client, created)
    assert response.status == 200
    body = response.json
    assert body["state"] == "pending"
    assert body["expires_at"] == created.expires_at
    assert body["created_at"].endswith("Z")
    assert body["revealed_at"] is None
    assert body["failed_attempts"] == 0
    assert body["opened_at"] is None
    assert set(body) == {
        "state",
        "created_at",
        "expires_at",
        "revealed_at",
        "opened_at",
        "failed_attempts",
    }
    for value in ("top", "pw", created.secret_key, created.receipt_key):
        assert value not in response.text
    assert response.headers["cache-control"] == "no-store"


def test_revealed_secret_reads_revealed(client: Client, clock: FakeClock) -> None:
    """After the read the receipt says revealed, with the time; burning is then 409."""
    created = create_secret(client, "top", "pw", ttl=600)
    clock.advance(7)
    assert client.reveal(created.secret_key, "pw").status == 200
    body = receipt(client, created).json
    assert body["state"] == "revealed"
    assert body["revealed_at"] == _iso(clock.now)
    refused = burn(client, created)
    assert_error(refused, 409, "not_pending")
    assert refused.json["state"] == "revealed"


def test_burn_destroys_a_pending_secret(client: Client) -> None:
    """Burn answers 200; the secret_key then answers 404; a second burn is 409 burned."""
    created = create_secret(client, "top", "pw", ttl=600)
    response = burn(client, created)
    assert (response.status, response.json) == (200, {"state": "burned"})
    assert client.reveal(created.secret_key, "pw").status == 404
    assert client.get(f"/secrets/{created.secret_key}").status == 404
    assert receipt(client, created).json["state"] == "burned"
    again = burn(client, created)
    assert (again.status, again.json["state"]) == (409, "burned")


def test_wrong_passphrases_show_and_destruction_reads_burned(client: Client) -> None:
    """failed_attempts follows wrong passphrases; destruction by them reads burned."""
    created = create_secret(client, "top", "pw", ttl=600)
    client.reveal(created.secret_key, "no")
    client.reveal(created.secret_key, "no")
    assert receipt(client, created).json["failed_attempts"] == 2
    for _ in range(3):
        client.reveal(created.secret_key, "no")
    body = receipt(client, created).json
    assert (body["state"], body["failed_attempts"]) == ("burned", 5)
    assert burn(client, created).json["state"] == "burned"


def test_expired_secret_reads_expired(client: Client, clock: FakeClock) -> None:
    """Past its expiry, with no sweep, the receipt reads expired and burn is 409 expired."""
    created = create_secret(client, "top", "pw", ttl=60)
    clock.advance(60)
    assert receipt(client, created).json["state"] == "expired"
    refused = burn(client, created)
    assert (refused.status, refused.json["state"]) == (409, "expired")


CHECKS = {
    "json-get": ("GET", "application/json"),
    "json-head": ("HEAD", "application/json"),
    "page-get": ("GET", BROWSER_ACCEPT),
    "page-head": ("HEAD", BROWSER_ACCEPT),
}


@pytest.mark.parametrize(("method", "accept"), CHECKS.values(), ids=CHECKS.keys())
def test_the_first_status_check_sets_opened_at_once(
    client: Client, clock: FakeClock, method: str, accept: str
) -> None:
    """opened_at is the first check of the link (JSON or page, GET or HEAD); later ones keep it."""
    created = create_secret(client, "top", "pw", ttl=600)
    clock.advance(5)
    link = f"/secrets/{created.secret_key}"
    assert client.request(method, link, headers={"accept": accept}).status == 200
    first = _iso(clock.now)
    clock.advance(30)
    assert client.get(link).status == 200
    body = receipt(client, created).json
    # Opened is not revealed: the secret is still pending, with every attempt.
    assert (body["state"], body["opened_at"], body["failed_attempts"]) == ("pending", first, 0)
    assert client.reveal(created.secret_key, "pw").status == 200
    assert receipt(client, created).json["opened_at"] == first


@pytest.mark.parametrize("ending", ["burn", "expire"])
def test_opened_at_outlives_the_secret(client: Client, clock: FakeClock, ending: str) -> None:
    """A burned or expired secret's receipt still tells when its link was opened."""
    created = create_secret(client, "top", "pw", ttl=60)
    clock.advance(3)
    client.get(f"/secrets/{created.secret_key}")
    first = _iso(clock.now)
    if ending == "burn":
        burn(client, created)
    else:
        clock.advance(60)
        client.run(client.context.maintenance.sweep())
    body = receipt(client, created).json
    ended = "burned" if ending == "burn" else "expired"
    assert (body["state"], body["opened_at"]) == (ended, first)


def test_only_a_status_check_of_a_live_secret_opens_it(client: Client, clock: FakeClock) -> None:
    """A reveal, a wrong passphrase, the receipt, another key or a late check set nothing."""
    created = create_secret(client, "top", "pw", ttl=60)
    revealed = create_secret(client, "other", "pw", ttl=60)
    assert client.reveal(created.secret_key, "no").status == 403
    assert receipt(client, created).status == 200
    assert client.get(f"/secrets/{revealed.secret_key}").status == 200
    assert receipt(client, created).json["opened_at"] is None
    assert client.reveal(revealed.secret_key, "pw").status == 200
    assert client.get(f"/secrets/{revealed.secret_key}").status == 404
    clock.advance(60)
    assert client.get(f"/secrets/{created.secret_key}").status == 404
    assert receipt(client, created).json["opened_at"] is None


@pytest.mark.parametrize("ending", ["reveal", "burn", "expire"])
def test_receipt_is_kept_for_the_retention_then_gone(
    client: Client, clock: FakeClock, ending: str
) -> None:
    """A receipt answers until OTS_RECEIPT_RETENTION after its secret ended, then 404."""
    created = create_secret(client, "top", "pw", ttl=60)
    if ending == "reveal":
        client.reveal(created.secret_key, "pw")
    elif ending == "burn":
        burn(client, created)
    else:
        clock.advance(60)
    clock.advance(RETENTION - 1)
    assert receipt(client, created).status == 200
    clock.advance(1)
    gone = receipt(client, created)
    assert_error(gone, 404, "not_found")
    assert burn(client, created).status == 404


def test_sweeper_purges_receipts_past_retention(
    client: Client, clock: FakeClock, db_url: str
) -> None:
    """The sweep deletes receipt rows whose retention has passed, and only those."""
    created = create_secret(client, "top", "pw", ttl=60)
    kept = create_secret(client, "top", "pw", ttl=3600)
    burn(client, created)
    clock.advance(RETENTION + 1)
    before = count_rows(db_url, table="receipt")
    client.run(client.context.maintenance.sweep())
    assert count_rows(db_url, table="receipt") < before
    assert receipt(client, kept).status == 200


BAD_RECEIPT_KEYS = {"unknown": "B" * 32, "short": "abc", "odd": "a.b.c.d.e.f.g.h.i.j.k.l"}


@pytest.mark.parametrize("key", BAD_RECEIPT_KEYS.values(), ids=BAD_RECEIPT_KEYS.keys())
def test_unknown_receipts_are_404(client: Client, key: str) -> None:
    """Unknown or malformed receipt keys get 404 on both endpoints."""
    assert client.get(f"/receipts/{key}").status == 404
    response = client.post(f"/receipts/{key}/burn")
    assert_error(response, 404, "not_found")


def test_keys_are_not_interchangeable(client: Client) -> None:
    """A secret_key is no receipt key and a receipt key opens no secret."""
    created = create_secret(client, "top", "pw", ttl=600)
    assert client.get(f"/receipts/{created.secret_key}").status == 404
    assert client.post(f"/receipts/{created.secret_key}/burn").status == 404
    assert client.reveal(created.receipt_key, "pw").status == 404
    assert client.get(f"/secrets/{created.secret_key}").status == 200


def test_burn_is_post_only(client: Client) -> None:
    """GET on the burn path is 405 with Allow: POST, so a link preview cannot burn."""
    created = create_secret(client, "top", "pw", ttl=600)
    response = client.get(f"/receipts/{created.receipt_key}/burn")
    assert response.status == 405
    assert "POST" in response.headers["allow"]
    assert receipt(client, created).json["state"] == "pending"


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
