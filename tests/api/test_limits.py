"""Rate limits, forged forwarding headers, and the storage quota, in total and per client."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import httpx
import pytest

from ots import crypto, sealed
from ots.api.throttle import declared_limit
from ots.quota import StorageGauge
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, assert_error, create_secret, samples, server_keys, sql


@pytest.fixture
def limited(make_client: MakeClient, db_url: str, request: pytest.FixtureRequest) -> Client:
    """An app whose settings the test parametrizes indirectly (a dict of overrides)."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return make_client(db_url, **{"rate_limit": "5/minute", **overrides})


KEY = "A" * 32


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
    """Health checks and the docs (HEAD too) never count and carry no rate-limit headers."""
    for _ in range(8):
        for path in ("/health", "/docs/openapi.json"):
            for method in ("GET", "HEAD"):
                response = limited.request(method, path)
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
    client = make_client(db_url, max_live_secrets=3, client_share=Fraction(1))
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


# Each way the operator can name the proxy in front, and how that proxy forwards an address.
PROXIES = {
    "x-forwarded-for": ({"proxies_count": 1}, lambda value: {"X-Forwarded-For": value}),
    "forwarded": (
        {"forwarded_secret": "s3cret"},
        lambda value: {"Forwarded": f'for="{value}";secret=s3cret'},
    ),
    "x-real-ip": ({"real_ip_header": "X-Real-IP"}, lambda value: {"X-Real-IP": value}),
}
# Forwarded values with ports, and the plain address they belong to.
WITH_PORTS = {
    "ipv4": (["198.51.100.7:1001", "198.51.100.7:1002", "198.51.100.7:65535"], "198.51.100.7"),
    "ipv6": (["[2001:db8::1]:443", "[2001:db8::2]:444", "[2001:db8::1]"], "2001:db8::3"),
}
UNPARSEABLE = ["unknown", "_hidden", "garbage", "198.51.100.7:99999", "[2001:db8::1", "1.2.3.4.5"]


@pytest.mark.parametrize(("proxy", "forward"), PROXIES.values(), ids=PROXIES.keys())
@pytest.mark.parametrize(("values", "plain"), WITH_PORTS.values(), ids=WITH_PORTS.keys())
def test_a_forwarded_address_with_a_port_counts_as_the_address(
    make_client: MakeClient,
    db_url: str,
    proxy: dict[str, Any],
    forward: Any,
    values: list[str],
    plain: str,
) -> None:
    """198.51.100.7:1001 and [2001:db8::1]:443 count as their address, whatever the port."""
    client = make_client(db_url, rate_limit="3/minute", **proxy)
    path = "/secrets/" + KEY
    assert [client.get(path, headers=forward(value)).status for value in values] == [404] * 3
    _assert_limited(client.get(path, headers=forward(plain)))
    assert client.get(path).status == 404  # the proxy's own address is another client


@pytest.mark.parametrize(("proxy", "forward"), PROXIES.values(), ids=PROXIES.keys())
def test_a_forwarded_value_that_names_no_address_counts_as_the_peer(
    make_client: MakeClient, db_url: str, proxy: dict[str, Any], forward: Any
) -> None:
    """unknown, _hidden, garbage, a bad port: the TCP peer's count, never one per string."""
    client = make_client(db_url, rate_limit=f"{len(UNPARSEABLE)}/minute", **proxy)
    path = "/secrets/" + KEY
    remaining = [
        client.get(path, headers=forward(value)).headers["x-ratelimit-remaining"]
        for value in UNPARSEABLE
    ]
    assert remaining == [str(n) for n in reversed(range(len(UNPARSEABLE)))]
    _assert_limited(client.get(path))
    assert client.get(path, headers=forward("198.51.100.8")).status == 404


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


# Each secret of 1000 bytes has a little over 1000 bytes of ciphertext; an eighth of
# 18000 bytes is 2250: room for two such secrets per client, not three, in either mode
# (and for three clients' in the total, which also counts 1 KiB per secret).
SHARE = {
    "real_ip_header": "X-Real-IP",
    "max_secret_bytes": 1000,
    "max_stored_bytes": 18000,
    "client_share": Fraction(1, 8),
}
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
    """Past its share of the bytes a client gets 507 with Retry-After; another client gets 201."""
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


def test_a_client_holds_at_most_its_share_of_the_live_secrets(
    make_client: MakeClient, db_url: str
) -> None:
    """Small secrets count too: a third of six live secrets is two per client."""
    client = make_client(
        db_url, real_ip_header="X-Real-IP", max_live_secrets=6, client_share=Fraction(1, 3)
    )
    tiny = {"secret": "x", "passphrase": "p"}
    alice = [client.post("/generate", json=tiny, headers=ALICE).status for _ in range(3)]
    assert alice == [201, 201, 507]
    assert client.post("/generate", json=tiny, headers=BOB).status == 201


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
    client = make_client(
        db_url, **{**SHARE, "client_share": Fraction(1, 2), "max_stored_bytes": 4500}
    )
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


# Every rate-limited route, as (method, path, body): HEAD and OPTIONS are sanic-ext's own.
LIMITED_ROUTES = {
    "generate": ("POST", "/generate", json.dumps(BODY).encode()),
    "reveal": ("POST", f"/secrets/{KEY}", b'{"passphrase": "p"}'),
    "check": ("GET", f"/secrets/{KEY}", b""),
    "check-head": ("HEAD", f"/secrets/{KEY}", b""),
    "receipt": ("GET", f"/receipts/{KEY}", b""),
    "receipt-head": ("HEAD", f"/receipts/{KEY}", b""),
    "burn": ("POST", f"/receipts/{KEY}/burn", b""),
    "generate-options": ("OPTIONS", "/generate", b""),
    "secret-options": ("OPTIONS", f"/secrets/{KEY}", b""),
    "token-list": ("GET", "/tokens/self/secrets", b""),
    "token-burn": ("POST", "/tokens/self/secrets/42/burn", b""),
}


def _at_last_slash(path: str, by: str) -> str:
    """Write ``by`` for the path's last separator (after a leading ``/`` if it has one only)."""
    cut = path.rindex("/")
    return path[:cut] + by + path[cut + 1 :] if cut else "/" + by + path[1:]


# Ways to write a route's path, and whether the router still takes it for that route
# (True), or for none (False; but where the path ends with a key, the suffix only
# makes another key for the same route: "key").
VARIANTS: dict[str, tuple[Callable[[str], str], bool | str]] = {
    "as-is": (lambda p: p, True),
    "query": (lambda p: p + "?x=1", True),
    "absolute-form": (lambda p: "http://127.0.0.1" + p, True),
    "trailing-slash": (lambda p: p + "/", False),
    "trailing-slashes": (lambda p: p + "//", False),
    "trailing-slash-query": (lambda p: p + "/?x=1", False),
    "leading-double-slash": (lambda p: "/" + p, False),
    "inner-double-slash": (lambda p: _at_last_slash(p, "//"), False),
    "encoded-slash": (lambda p: _at_last_slash(p, "%2F"), False),
    "encoded-letter": (lambda p: f"/%{ord(p[1]):02X}{p[2:]}", False),
    "encoded-letter-lower-hex": (lambda p: f"/%{ord(p[1]):02x}{p[2:]}", False),
    "upper-case": (lambda p: p.upper(), False),
    "title-case": (lambda p: "/" + p[1:].capitalize(), False),
    "dot-segment": (lambda p: "/." + p, False),
    "dot-dot-segment": (lambda p: "/x/.." + p, False),
    "path-parameter": (lambda p: p + ";x", "key"),
    "backslash": (lambda p: _at_last_slash(p, "\\"), False),
    "encoded-tab": (lambda p: p + "%09", "key"),
}


async def _send_raw(base: str, method: str, target: str, body: bytes) -> tuple[int, dict[str, str]]:
    """Send one request with ``target`` exactly as written (no client normalises it)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers


@pytest.mark.parametrize("limited", [{"rate_limit": f"{len(VARIANTS)}/minute"}], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "body"), LIMITED_ROUTES.values(), ids=LIMITED_ROUTES.keys()
)
def test_every_way_of_writing_a_limited_route_counts(
    limited: Client, method: str, path: str, body: bytes
) -> None:
    """Slashes, case, encodings, dot segments: each counts once, or reaches no handler; then 429."""
    first = [
        limited.run(_send_raw(limited.base, method, rewrite(path), body))
        for rewrite, _ in VARIANTS.values()
    ]
    as_is = first[0][0]
    for (name, (_, reaches)), (status, _) in zip(VARIANTS.items(), first, strict=True):
        if reaches is True or (reaches == "key" and path.endswith(KEY)):
            assert status == as_is, name
        else:
            # No route at all, or another path's route without this method.
            assert status in (404, 405), name
    remaining = [headers["x-ratelimit-remaining"] for _, headers in first]
    assert remaining == [str(n) for n in reversed(range(len(VARIANTS)))]
    for name, (rewrite, _) in VARIANTS.items():
        status, headers = limited.run(_send_raw(limited.base, method, rewrite(path), body))
        assert status == 429, name
        assert headers["x-ratelimit-remaining"] == "0"


# The pages (ots.web): the share page and its static files touch no secret.
EXEMPT_ROUTES = {
    "health",
    "page",
    "spec",
    "asset",
    "scrape",
    "share_page",
    "my_secrets_page",
    "ask_page",
    "static_file",
}
LIMITED_NAMES = {
    "generate",
    "reveal",
    "status",
    "receipt",
    "burn",
    "list_secrets",
    "burn_secret",
    "create_request",
    "request_status",
    "answer_request",
}


def test_every_route_declares_whether_it_is_limited(client: Client) -> None:
    """Each route says ctx_rate_limited=True or False where it is defined: none left to chance."""
    client.get("/health")  # the automatic HEAD and OPTIONS routes exist once the server started
    declared = {}
    for route in client.app.router.routes:
        if getattr(route.handler, "__auto_handler__", False):
            continue
        declared[route.name.rsplit(".", 1)[-1]] = declared_limit(route)
    assert declared == dict.fromkeys(LIMITED_NAMES, True) | dict.fromkeys(EXEMPT_ROUTES, False)


UNROUTED = {
    "unknown-path": ("GET", "/nope"),
    "health-trailing-slash": ("GET", "/health/"),
    "metrics-trailing-slash": ("GET", "/metrics/"),
    "wrong-method": ("PUT", "/generate"),
    "wrong-method-on-no-path": ("PUT", "/generate/"),
}


@pytest.mark.parametrize("limited", [{"rate_limit": "2/minute"}], indirect=True)
@pytest.mark.parametrize(("method", "path"), UNROUTED.values(), ids=UNROUTED.keys())
def test_a_request_that_matches_no_route_counts(limited: Client, method: str, path: str) -> None:
    """404 and 405 count like any route: probing paths costs what using them costs."""
    first = limited.request(method, path).status
    assert first in (404, 405)
    assert limited.request(method, path).status == first
    _assert_limited(limited.request(method, path))
    _assert_limited(limited.get("/secrets/" + KEY))
    assert limited.get("/health").status == 200
