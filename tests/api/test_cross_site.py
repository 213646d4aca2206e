"""Browsers on other sites: state changes refused, counting nothing; CORS for listed origins."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Client, MakeClient
from tests.support import assert_error, create_secret, sql

BODY = {"secret": "s", "passphrase": "p", "ttl": 60}
EVIL = "https://evil.example"
ALLOWED = "https://app.example"

# What browsers send from a page that is not this server's; "{own}" is this server's origin.
REFUSED = {
    "cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": EVIL},
    "cross-site-without-origin": {"Sec-Fetch-Site": "cross-site"},
    "cross-site-any-case": {"Sec-Fetch-Site": "Cross-Site"},
    "same-site-sibling-host": {"Sec-Fetch-Site": "same-site", "Origin": "https://files.example"},
    "foreign-origin-only": {"Origin": EVIL},
    "null-origin": {"Origin": "null"},
    "garbage-origin": {"Origin": "not an origin"},
    "own-host-other-port": {"Origin": "http://127.0.0.1:1"},
    "own-host-other-scheme": {"Origin": "{own_https}"},
    "same-origin-claimed-foreign-origin": {"Sec-Fetch-Site": "same-origin", "Origin": EVIL},
    "same-site-own-origin": {"Sec-Fetch-Site": "same-site", "Origin": "{own}"},
}
# What this server's own pages, and clients that are no browser, send.
PASSED = {
    "no-browser": {},
    "same-origin": {"Sec-Fetch-Site": "same-origin", "Origin": "{own}"},
    "same-origin-without-origin": {"Sec-Fetch-Site": "same-origin"},
    "own-origin-only": {"Origin": "{own}"},
    "own-origin-upper-case": {"Origin": "{own_upper}"},
    "user-initiated": {"Sec-Fetch-Site": "none"},
    # A form of ots's own pages (Referrer-Policy: no-referrer) says Origin: null.
    "own-no-referrer-page": {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
}


def _headers(client: Client, template: dict[str, str]) -> dict[str, str]:
    own = client.base
    names = {"own": own, "own_https": own.replace("http:", "https:"), "own_upper": own.upper()}
    return {name: value.format(**names) for name, value in template.items()}


def _count_secrets(db_url: str) -> int:
    return int(sql(db_url, "SELECT COUNT(*) FROM secret")[0][0])


@pytest.mark.parametrize("template", REFUSED.values(), ids=REFUSED.keys())
def test_another_sites_state_change_is_403_and_counts_nothing(
    make_client: MakeClient, db_url: str, template: dict[str, str]
) -> None:
    """Create, reveal, burn from another site: 403; no secret, attempt or request is spent."""
    client = make_client(db_url, rate_limit="10/minute")
    made = create_secret(client, **BODY)
    headers = _headers(client, template)
    refused = [
        client.post("/generate", json=BODY, headers=headers),
        client.post(f"/secrets/{made.secret_key}", json={"passphrase": "wrong"}, headers=headers),
        client.post(f"/secrets/{made.secret_key}", json={"passphrase": "p"}, headers=headers),
        client.post(f"/receipts/{made.receipt_key}/burn", headers=headers),
    ]
    for response in refused:
        assert_error(response, 403, "forbidden")
        assert "access-control-allow-origin" not in response.headers
    assert _count_secrets(db_url) == 1
    receipt = client.get(f"/receipts/{made.receipt_key}")
    assert (receipt.json["state"], receipt.json["failed_attempts"]) == ("pending", 0)
    assert receipt.headers["x-ratelimit-remaining"] == "8"
    # Reading is not a state change: a link opened from another site still works.
    assert client.get(f"/secrets/{made.secret_key}", headers=headers).status == 200


@pytest.mark.parametrize("template", PASSED.values(), ids=PASSED.keys())
def test_own_pages_and_other_clients_are_unaffected(
    client: Client, template: dict[str, str]
) -> None:
    """Own pages, a user's own action and clients that are no browser create, reveal and burn."""
    headers = _headers(client, template)
    created = client.post("/generate", json=BODY, headers=headers)
    assert created.status == 201
    key = created.json["secret_key"]
    wrong = client.post(f"/secrets/{key}", json={"passphrase": "x"}, headers=headers)
    assert_error(wrong, 403, "wrong_passphrase")
    assert client.post(f"/secrets/{key}", json={"passphrase": "p"}, headers=headers).status == 200
    other = create_secret(client, **BODY)
    assert client.post(f"/receipts/{other.receipt_key}/burn", headers=headers).status == 200
    # No origin is listed: no CORS header at all.
    assert "access-control-allow-origin" not in created.headers
    assert "vary" not in created.headers


PROXIED = {
    "x-forwarded-with-proxies-count": (
        {"proxies_count": 1},
        {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
        201,
    ),
    "forwarded-with-its-secret": (
        {"forwarded_secret": "s3cret"},
        {"Forwarded": "for=198.51.100.7;proto=https;host=secrets.example;secret=s3cret"},
        201,
    ),
    "x-forwarded-without-a-configured-proxy": (
        {},
        {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
        403,
    ),
    "forwarded-with-a-wrong-secret": (
        {"forwarded_secret": "s3cret"},
        {"Forwarded": "for=198.51.100.7;proto=https;host=secrets.example;secret=guess"},
        403,
    ),
}


@pytest.mark.parametrize(("proxy", "forwarded", "status"), PROXIED.values(), ids=PROXIED.keys())
def test_own_origin_behind_a_proxy_is_the_forwarded_one(
    make_client: MakeClient,
    db_url: str,
    proxy: dict[str, Any],
    forwarded: dict[str, str],
    status: int,
) -> None:
    """The forwarded scheme and host name the server's origin only when a proxy is configured."""
    client = make_client(db_url, **proxy)
    page = {"Origin": "https://secrets.example", "Sec-Fetch-Site": "same-origin"}
    host = {"X-Forwarded-Host": "secrets.example"}
    response = client.post("/generate", json=BODY, headers={**page, **host, **forwarded})
    assert response.status == status


@pytest.fixture
def cors(make_client: MakeClient, db_url: str) -> Client:
    """A server that lets pages of https://app.example (and one IPv6 origin) call it."""
    return make_client(db_url, cors_origins=f" {ALLOWED}:443/ , http://[::1]:8080")


ALLOWED_SPELLINGS = {
    "as-listed": ALLOWED,
    "upper-case-default-port": "HTTPS://APP.EXAMPLE:443",
    "ipv6": "http://[::1]:8080",
}


@pytest.mark.parametrize("origin", ALLOWED_SPELLINGS.values(), ids=ALLOWED_SPELLINGS.keys())
def test_a_listed_origin_may_create_and_read_the_answer(cors: Client, origin: str) -> None:
    """A cross-site request from a listed origin passes and carries CORS headers for that origin."""
    created = cors.post(
        "/generate", json=BODY, headers={"Origin": origin, "Sec-Fetch-Site": "cross-site"}
    )
    assert created.status == 201
    assert created.headers["access-control-allow-origin"] == origin
    assert "Origin" in created.headers["vary"]
    assert "Retry-After" in created.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in created.headers
    status = cors.get(f"/secrets/{created.json['secret_key']}", headers={"Origin": origin})
    assert status.headers["access-control-allow-origin"] == origin


def test_a_listed_origin_gets_a_preflight_answer(cors: Client) -> None:
    """OPTIONS with Access-Control-Request-Method: 204 with origin, methods, headers and max age."""
    preflight = cors.request(
        "OPTIONS",
        "/generate",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["access-control-max-age"] == "7200"
    assert "Origin" in preflight.headers["vary"]


def test_an_unlisted_origin_gets_no_cors_and_still_403(cors: Client) -> None:
    """Listing one origin opens nothing to the others: no CORS headers, and 403 on a create."""
    preflight = cors.request(
        "OPTIONS", "/generate", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-methods" not in preflight.headers
    assert preflight.headers["vary"] == "Origin"
    refused = cors.post("/generate", json=BODY, headers={"Origin": EVIL})
    assert_error(refused, 403, "forbidden")
    assert "access-control-allow-origin" not in refused.headers
