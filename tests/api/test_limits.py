"""Rate limits, forged forwarding headers, and the storage quota, in total and per client."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from ots import crypto, sealed
from ots.quota import StorageGauge
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, assert_error, create_secret, samples, server_keys, sql


@pytest.fixture
def limited(make_client: MakeClient, db_url: str, request: pytest.FixtureRequest) -> Client:
    """An app whose settings the test parametrizes indirectly (a dict of overrides)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return make_client(db_url, **{"rate_limit": "5/minute", **overrides})


def _assert_limited(response: Any) -> None:
    assert_error(response, 429, "rate_limited")
    assert response.headers["x-ratelimit-remaining"] == "0"


def test_limit_counts_every_api_route_and_sends_headers(limited: Client) -> None:
    """Five requests of any API route pass, counting down; the sixth is 429."""
    created = limited.post("/generate", json={"secret": "s", "passphrase": "p"})
    key, receipt = created.json["secret_key"], created.json["receipt_key"]
    responses = [
        created,
        limited.get(f"/secrets/{key}"),
        limited.get(f"/receipts/{receipt}"),
        limited.get("/secrets/" + "A" * 32),
        limited.reveal(key, "wrong"),
    ]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
    for response in responses:
        assert response.headers["x-ratelimit-limit"] == "5"
        assert int(response.headers["x-ratelimit-reset"]) > time.time()
    _assert_limited(limited.reveal(key, "p"))
    _assert_limited(limited.post("/generate", json={"secret": "s", "passphrase": "p"}))


def test_health_and_docs_are_exempt(limited: Client) -> None:
    """Health checks and the docs never count and carry no rate-limit headers."""
    for _ in range(8):
        for path in ("/health", "/docs/openapi.json"):
            response = limited.get(path)
            assert response.status == 200
            assert "x-ratelimit-limit" not in response.headers


def test_refused_guesses_cost_no_attempt(limited: Client) -> None:
    """Past the limit a passphrase guess is not even tried: attempts_left stays put."""
    key = create_secret(limited, "s", "right").secret_key
    for _ in range(4):
        limited.reveal(key, "wrong")
    _assert_limited(limited.reveal(key, "wrong"))
    _assert_limited(limited.get(f"/secrets/{key}"))


FORGED = {
    "x-forwarded-for": lambda i: {"X-Forwarded-For": f"10.0.0.{i}"},
    "forwarded": lambda i: {"Forwarded": f"for=10.0.1.{i}"},
    "x-real-ip": lambda i: {"X-Real-IP": f"10.0.2.{i}"},
}


@pytest.mark.parametrize("forge", FORGED.values(), ids=FORGED.keys())
def test_forged_forwarding_headers_do_not_dodge_the_limit(limited: Client, forge: Any) -> None:
    """Without a configured proxy, forwarding headers are ignored: the TCP peer counts."""
    statuses = [limited.get("/secrets/" + "A" * 32, headers=forge(i)).status for i in range(7)]
    assert statuses == [404] * 5 + [429] * 2


@pytest.mark.parametrize("limited", [{"real_ip_header": "X-Real-IP"}], indirect=True)
def test_configured_proxy_header_names_the_client(limited: Client) -> None:
    """With OTS_REAL_IP_HEADER set, each forwarded client has its own limit."""
    for client in ("192.0.2.1", "192.0.2.2"):
        statuses = [
            limited.get("/secrets/" + "A" * 32, headers={"X-Real-IP": client}).status
            for _ in range(6)
        ]
        assert statuses == [404] * 5 + [429]


@pytest.mark.parametrize(
    "limited", [{"rate_limit_storage": "redis://127.0.0.1:1/0"}], indirect=True
)
def test_unreachable_redis_falls_back_warns_once_and_degrades_health(
    limited: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis down the limit still holds per process, one warning, /health degraded."""
    caplog.set_level(logging.WARNING, logger="ots.ratelimit")
    statuses = [limited.get("/secrets/" + "A" * 32).status for _ in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    warnings = [r for r in caplog.records if r.name == "ots.ratelimit"]
    assert len(warnings) == 1
    health = limited.get("/health")
    assert health.status == 200
    assert health.json == {"status": "degraded", "database": "ok", "rate_limiter": "degraded"}
    assert "\nots_rate_limiter_degraded 1.0\n" in limited.get("/metrics").text


def test_storage_quota_refuses_then_releases(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """At OTS_MAX_LIVE_SECRETS, /generate is 507 while reads and burns still work."""
    client = make_client(db_url, max_live_secrets=3)
    made = [create_secret(client, **BODY) for _ in range(3)]
    assert_error(client.post("/generate", json=BODY), 507, "storage_full")
    assert client.get(f"/secrets/{made[2].secret_key}").status == 200
    assert client.reveal(made[0].secret_key, "p").status == 200
    assert client.post("/generate", json=BODY).status == 201
    assert client.post(f"/receipts/{made[1].receipt_key}/burn").status == 200
    assert client.post("/generate", json=BODY).status == 201
    assert client.post("/generate", json=BODY).status == 507
    clock.advance(3600)  # everything made here expires; the next count sees it
    assert client.post("/generate", json=BODY).status == 201


BODY = {"secret": "s", "passphrase": "p", "ttl": 60}


def test_head_counts_against_the_limit(limited: Client) -> None:
    """sanic-ext's automatic HEAD routes run the GET handler's query: they count too."""
    heads = [limited.request("HEAD", "/secrets/" + "A" * 32).status for _ in range(5)]
    assert heads == [404] * 5
    _assert_limited(limited.get("/secrets/" + "A" * 32))
    assert limited.request("HEAD", "/secrets/" + "A" * 32).status == 429


@pytest.mark.parametrize("limited", [{"rate_limit": "2/second"}], indirect=True)
def test_retry_after_never_exceeds_the_window(limited: Client) -> None:
    """A one-second window never asks a client to wait longer than one second."""
    responses = [limited.get("/secrets/" + "A" * 32) for _ in range(3)]
    assert [r.status for r in responses] == [404, 404, 429]
    assert responses[2].headers["retry-after"] == "1"


IPV6_SHARED = {
    "one-64": ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"],
    "mapped-and-plain-ipv4": ["::ffff:192.0.2.9", "192.0.2.9", "::ffff:c000:209"],
}


@pytest.mark.parametrize("limited", [{"real_ip_header": "X-Real-IP"}], indirect=True)
@pytest.mark.parametrize("addresses", IPV6_SHARED.values(), ids=IPV6_SHARED.keys())
def test_addresses_of_one_client_share_one_limit(limited: Client, addresses: list[str]) -> None:
    """Rotating through a /64, or writing IPv4 as mapped IPv6, does not dodge the limit."""
    statuses = [
        limited.get("/secrets/" + "A" * 32, headers={"X-Real-IP": addresses[i % 3]}).status
        for i in range(6)
    ]
    assert statuses == [404] * 5 + [429]
    other = limited.get("/secrets/" + "A" * 32, headers={"X-Real-IP": "2001:db8:9::1"})
    assert other.status == 404


def test_byte_quota_counts_ciphertexts_and_receipts(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """/generate is 507 once the bytes stored would pass OTS_MAX_STORED_BYTES, receipts included."""
    secret = {"secret": "x" * 1000, "passphrase": "p"}
    # Each secret: 1016 bytes of ciphertext + 512 for its row + 512 for its receipt.
    client = make_client(db_url, max_stored_bytes=4200)
    made = [create_secret(client, **secret) for _ in range(2)]
    assert_error(client.post("/generate", json=secret), 507, "storage_full")
    for created in made:
        assert client.reveal(created.secret_key, "p").status == 200
    clock.advance(StorageGauge.REFRESH_SECONDS)
    # Two receipts (1024 bytes) remain: room for two more, not three.
    assert [client.post("/generate", json=secret).status for _ in range(3)] == [201, 201, 507]


# Each secret of 1000 bytes costs about 2 KiB (its ciphertext and two rows of 512):
# a share with room for two such secrets, not three, in either mode.
SHARE = {"real_ip_header": "X-Real-IP", "max_secret_bytes": 1000, "max_client_bytes": 4580}
ALICE = {"X-Real-IP": "192.0.2.1"}
BOB = {"X-Real-IP": "2001:db8:1:2::1"}
# As the rate limit counts them: Alice written as mapped IPv6, Bob from elsewhere in his /64.
ALICE_MAPPED = {"X-Real-IP": "::ffff:192.0.2.1"}
BOB_AGAIN = {"X-Real-IP": "2001:db8:1:2:ffff::7"}


def _create(client: Client, headers: dict[str, str], sealed_mode: bool = False) -> Any:
    # A secret of 1000 bytes, behind the passphrase "p" or sealed here, from one client.
    body = sealed.seal(b"x" * 1000).request() if sealed_mode else {"secret": "x" * 1000}
    return client.post(
        "/generate", json=body if sealed_mode else {**body, "passphrase": "p"}, headers=headers
    )


MODES = {"passphrase": False, "sealed": True}
REFUSED = ("ots_client_share_refused_total", ())


@pytest.mark.parametrize("sealed_mode", MODES.values(), ids=MODES.keys())
def test_one_client_fills_its_share_and_the_others_still_create(
    make_client: MakeClient, db_url: str, sealed_mode: bool
) -> None:
    """Past OTS_MAX_CLIENT_BYTES a client gets 507 with Retry-After; another client gets 201."""
    client = make_client(db_url, **SHARE)
    before = samples(client).get(REFUSED, 0)
    alice = [_create(client, ALICE, sealed_mode) for _ in range(3)]
    assert [r.status for r in alice] == [201, 201, 507]
    body = assert_error(alice[2], 507, "storage_full")
    assert "you" in body["message"].lower()
    assert alice[2].headers["retry-after"] == "60"
    assert_error(_create(client, ALICE_MAPPED, sealed_mode), 507, "storage_full")
    assert [_create(client, who, sealed_mode).status for who in (BOB, BOB_AGAIN, BOB)] == [
        201,
        201,
        507,
    ]
    assert samples(client)[REFUSED] - before == 3


ENDINGS = {
    "revealed": lambda client, made: client.reveal(made["secret_key"], "p"),
    "burned": lambda client, made: client.post(f"/receipts/{made['receipt_key']}/burn"),
}


@pytest.mark.parametrize("end", ENDINGS.values(), ids=ENDINGS.keys())
def test_a_client_creates_again_once_one_of_its_secrets_ends(
    make_client: MakeClient, db_url: str, end: Any
) -> None:
    """Revealing or burning one of its secrets gives the client room for one more."""
    client = make_client(db_url, **SHARE)
    made = [_create(client, ALICE).json for _ in range(2)]
    assert_error(_create(client, ALICE), 507, "storage_full")
    assert end(client, made[0]).status == 200
    assert [_create(client, ALICE).status for _ in range(2)] == [201, 507]


def test_a_client_creates_again_once_its_secrets_expire(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Expired secrets count for nobody, swept or not."""
    client = make_client(db_url, **SHARE)
    for _ in range(2):
        assert (
            client.post(
                "/generate",
                json={"secret": "x" * 1000, "passphrase": "p", "ttl": 60},
                headers=ALICE,
            ).status
            == 201
        )
    assert_error(_create(client, ALICE), 507, "storage_full")
    clock.advance(60)
    assert _create(client, ALICE).status == 201


def test_the_global_quota_still_refuses_everyone(make_client: MakeClient, db_url: str) -> None:
    """Clients well within their shares get 507 once OTS_MAX_STORED_BYTES is used."""
    client = make_client(db_url, **{**SHARE, "max_client_bytes": 1 << 20, "max_stored_bytes": 4580})
    assert [_create(client, who).status for who in (ALICE, BOB)] == [201, 201]
    for who in (ALICE, BOB, {"X-Real-IP": "198.51.100.7"}):
        assert_error(_create(client, who), 507, "storage_full")


def test_a_row_never_holds_the_client_address(make_client: MakeClient, db_url: str) -> None:
    """The database keeps a keyed tag of the client, never its address, in any table."""
    client = make_client(db_url, **SHARE)
    for who in (ALICE, BOB):
        _create(client, who)
    tags = {row[0] for row in sql(db_url, "SELECT quota_tag FROM secret")}
    key = server_keys().newest.secret
    assert tags == {
        crypto.quota_tag("ip:192.0.2.1", key),
        crypto.quota_tag("ip:2001:db8:1:2::/64", key),
    }
    for table in ("secret", "receipt", "webhook", "delivery"):
        dump = repr(sql(db_url, f"SELECT * FROM {table}"))
        for address in ("192.0.2.1", "2001:db8:1:2", "c000:201", "c0000201"):
            assert address not in dump, (table, address)


def test_a_burst_of_one_clients_creates_never_passes_its_share(
    make_client: MakeClient, db_url: str
) -> None:
    """Eight creates at once from one client: those still hashing count, so two fit at most."""
    client = make_client(db_url, **SHARE)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=client.base, timeout=30) as http:
            body = {"secret": "x" * 1000, "passphrase": "p"}
            sent = [http.post("/generate", json=body, headers=ALICE) for _ in range(8)]
            return [response.status_code for response in await asyncio.gather(*sent)]

    statuses = client.run(burst())
    assert set(statuses) == {201, 507}
    assert 1 <= statuses.count(201) <= 2
    assert len(sql(db_url, "SELECT id FROM secret")) == statuses.count(201)
