"""Who may create: each access mode against every endpoint, tokens from birth to revocation.

Every test runs on both databases. The test client's address is 127.0.0.1;
an address inside ``OTS_CREATE_NETWORKS`` (10.0.0.0/8 here) reaches the app
the one way ots trusts: through a proxy it was told about (``proxies_count``).
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from ots import crypto, metrics
from ots.access import TokenAdmin
from ots.tokens import IssuedToken, TokenLimits
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, assert_error, sql

NETWORK: Final = "10.0.0.0/8"
INSIDE: Final = {"X-Forwarded-For": "10.1.2.3"}
SECRET: Final = {"secret": "s3cr3t", "passphrase": "pw"}
# What a create gets in each mode: without a token from outside and inside the networks,
# and with a good token from outside.
MODES: Final = {
    "open": (201, 201, 201),
    "token": (401, 401, 201),
    "network": (403, 201, 403),
    "token_or_network": (401, 201, 201),
}


def HEADERS(token: IssuedToken) -> list[dict[str, str]]:  # noqa: N802 - a table
    """A create's headers: none, a client outside, one inside the networks, a good token."""
    return [{}, {"X-Forwarded-For": "192.0.2.9"}, INSIDE, bearer(token)]


def access_client(make_client: MakeClient, db_url: str, mode: str, **more: Any) -> Client:
    """A server in ``mode``, behind one trusted proxy, whose networks are NETWORK."""
    networks = NETWORK if mode in ("network", "token_or_network") else ""
    return make_client(
        db_url, create_access=mode, create_networks=networks, proxies_count=1, **more
    )


def issue(
    client: Client,
    clock: FakeClock,
    name: str = "ci",
    expires_in: int | None = None,
    limits: TokenLimits | None = None,
) -> IssuedToken:
    """Make a token on ``client``'s database, as ``ots tokens add`` does."""
    admin = TokenAdmin(client.context.tokens, client.context.keys, clock)
    return client.run(admin.add(name, expires_in, limits or TokenLimits()))


def bearer(issued: IssuedToken | str) -> dict[str, str]:
    """The header that carries a token."""
    text = issued if isinstance(issued, str) else issued.text
    return {"Authorization": f"Bearer {text}"}


def create(client: Client, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """POST a passphrase secret (SECRET, with ``fields``)."""
    return client.post("/generate", json={**SECRET, **fields}, headers=headers or {})


@pytest.mark.parametrize("mode", MODES, ids=MODES)
def test_who_may_create_in_each_mode_and_everyone_may_read(
    make_client: MakeClient, db_url: str, clock: FakeClock, mode: str
) -> None:
    """Creates as the mode says; reveal, status, receipt and burn never need a token."""
    client = access_client(make_client, db_url, mode)
    token = issue(client, clock)
    outside, inside, with_token = MODES[mode]
    answers = [create(client, headers) for headers in HEADERS(token)]
    assert [a.status for a in answers] == [outside, outside, inside, with_token]
    for refused in (a for a in answers if a.status != 201):
        body = assert_error(
            refused, refused.status, {401: "unauthorized", 403: "forbidden"}[refused.status]
        )
        assert "token" in body["message"] or "network" in body["message"]
        if refused.status == 401:
            assert refused.headers["www-authenticate"].startswith("Bearer")
    made = [(a.json, h) for a, h in zip(answers, HEADERS(token), strict=True) if a.status == 201]
    assert made, "every mode lets someone create"
    first, allowed = made[0]
    second = create(client, allowed).json
    # From anywhere, without any token: the link and the receipt are the capability.
    assert client.get(f"/secrets/{first['secret_key']}").status == 200
    assert client.get(f"/receipts/{first['receipt_key']}").json["state"] == "pending"
    assert client.reveal(first["secret_key"], "pw").json == {"secret": "s3cr3t"}
    assert client.post(f"/receipts/{second['receipt_key']}/burn").json == {"state": "burned"}
    assert client.get(f"/receipts/{second['receipt_key']}").json["state"] == "burned"
    # The token's own list always wants the token, whatever the mode.
    assert_error(client.get("/tokens/self/secrets"), 401, "unauthorized")
    listed = client.get("/tokens/self/secrets", headers=bearer(token))
    assert listed.status == 200
    assert len(listed.json["secrets"]) == (1 if with_token == 201 else 0) + (
        allowed == bearer(token)
    )


# Authorization values that carry no good token, from a good one and one whose key is gone.
BAD_TOKENS: Final = {
    "unknown id": lambda good, _: "Bearer " + good.text.replace(f"_{good.token.id}_", "_999_"),
    "wrong random part": lambda good, _: "Bearer " + wrong(good),
    "not a token": lambda good, _: "Bearer hunter2",
    "no token": lambda good, _: "Bearer",
    "the token without its scheme": lambda good, _: good.text,
    "an id past 64 bits": lambda good, _: "Bearer ots_9999999999999999999_" + "A" * 43,
    "its server key removed": lambda _, gone: f"Bearer {gone.text}",
}


def wrong(good: IssuedToken) -> str:
    """``good`` with its last characters changed: the right id, a wrong random part."""
    return good.text[:-4] + ("AAAA" if good.text[-4:] != "AAAA" else "BBBB")


@pytest.mark.parametrize("make_bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_wrong_token_is_401_even_on_an_open_instance(
    make_client: MakeClient, db_url: str, clock: FakeClock, make_bad: Any
) -> None:
    """A token that does not pass is never ignored: 401, nothing stored, and no 500."""
    client = access_client(make_client, db_url, "open")
    good, gone = issue(client, clock), issue(client, clock, "gone")
    # As after `ots keys remove` of the key it was made under: nothing opens it any more.
    sql(db_url, f"UPDATE token SET key_id = 'removed' WHERE id = {gone.token.id}")
    for path in ("/generate", "/tokens/self/secrets"):
        headers = {"Authorization": make_bad(good, gone)}
        response = client.request("POST" if path == "/generate" else "GET", path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert sql(db_url, "SELECT count(*) FROM secret") == [(0,)]
    assert create(client, bearer(good)).status == 201


@pytest.mark.parametrize(("mode", "status"), [("open", 201), ("token", 401)])
def test_another_scheme_is_no_token(
    make_client: MakeClient, db_url: str, mode: str, status: int
) -> None:
    """A proxy's Basic password is no claim to a token: the mode decides, as without one."""
    client = access_client(make_client, db_url, mode)
    response = create(client, {"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status == status
    if status == 401:
        assert "needs an API token" in assert_error(response, 401, "unauthorized")["message"]


def test_a_token_lives_until_it_expires_or_is_revoked(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Used, then expired (by the clock) or revoked: 401 from then on, in every mode."""
    client = access_client(make_client, db_url, "token")
    admin = TokenAdmin(client.context.tokens, client.context.keys, clock)
    short = issue(client, clock, "short", expires_in=60)
    kept = issue(client, clock, "kept")
    assert create(client, bearer(short)).status == 201
    clock.advance(60)
    assert_error(create(client, bearer(short)), 401, "unauthorized")
    assert create(client, bearer(kept)).status == 201
    assert client.run(admin.revoke(kept.token.id)) is True
    assert client.run(admin.revoke(kept.token.id)) is False
    assert_error(create(client, bearer(kept)), 401, "unauthorized")
    assert_error(client.get("/tokens/self/secrets", headers=bearer(kept)), 401, "unauthorized")
    states = {t.name: t.state(int(clock())).value for t in client.run(admin.all())}
    assert states == {"short": "expired", "kept": "revoked"}


def test_last_used_is_coarse(make_client: MakeClient, db_url: str, clock: FakeClock) -> None:
    """A token's last use is written once per hour at most, not once per request."""
    client = access_client(make_client, db_url, "token")
    token = issue(client, clock)
    start = int(clock())
    assert create(client, bearer(token)).status == 201
    clock.advance(600)
    assert create(client, bearer(token)).status == 201
    assert sql(db_url, "SELECT last_used_at FROM token") == [(start,)]
    clock.advance(3600)
    assert create(client, bearer(token)).status == 201
    assert sql(db_url, "SELECT last_used_at FROM token") == [(start + 4200,)]


def test_failed_authentications_are_rate_limited(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Ten wrong tokens from one client, then 429 even for a good one: no guessing online."""
    client = access_client(make_client, db_url, "token")
    good = issue(client, clock)
    for _ in range(10):
        assert_error(create(client, bearer(wrong(good))), 401, "unauthorized")
    refused = assert_error(create(client, bearer(good)), 429, "rate_limited")
    assert "authentications" in refused["message"]
    # Another client (through the trusted proxy) is not held back by this one's failures.
    assert create(client, {**bearer(good), "X-Forwarded-For": "198.51.100.4"}).status == 201


def test_a_tokens_own_rate_limit_and_byte_quota(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """429 past the token's rate, 507 past its bytes, with its numbers; others unaffected."""
    client = access_client(make_client, db_url, "token")
    limited = issue(client, clock, "ci", limits=TokenLimits(rate_limit="3/minute"))
    small = issue(client, clock, "small", limits=TokenLimits(max_bytes=100))
    other = issue(client, clock, "other")
    for _ in range(3):
        assert create(client, bearer(limited)).status == 201
    response = create(client, bearer(limited))
    assert "3/minute" in assert_error(response, 429, "rate_limited")["message"]
    # The token's numbers, not the address's (100000/minute in the tests).
    assert response.headers["x-ratelimit-limit"] == "3"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert create(client, bearer(other)).status == 201
    assert create(client, bearer(small), secret="x" * 60).status == 201
    full = assert_error(create(client, bearer(small), secret="x" * 60), 507, "storage_full")
    assert "100 bytes" in full["message"]
    assert create(client, bearer(other), secret="x" * 60).status == 201
    # Burned, its bytes are free again.
    first = client.get("/tokens/self/secrets", headers=bearer(small)).json["secrets"]
    burned = client.post(f"/tokens/self/secrets/{first[0]['id']}/burn", headers=bearer(small))
    assert burned.status == 200
    assert create(client, bearer(small), secret="x" * 60).status == 201


async def public_dns(host: str, port: int) -> list[str]:
    """Every webhook host resolves to a public address (nothing is delivered in these tests)."""
    del host, port
    return ["93.184.216.34"]


def test_a_holder_lists_and_burns_only_its_own_secrets(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Pages newest first with a cursor, no key in sight; another token's id is 404."""
    client = access_client(make_client, db_url, "open", resolver=public_dns)
    mine, theirs = issue(client, clock, "mine"), issue(client, clock, "theirs")
    made = [create(client, bearer(mine), ttl=100 + n).json for n in range(5)]
    notified = client.post(
        "/generate",
        json={**SECRET, "notify": {"url": "https://hooks.example.com/x", "events": ["revealed"]}},
        headers=bearer(theirs),
    )
    assert create(client).status == 201  # no token: nobody's list
    first = client.get("/tokens/self/secrets?limit=2", headers=bearer(mine)).json
    second = client.get(
        f"/tokens/self/secrets?limit=2&cursor={first['next']}", headers=bearer(mine)
    ).json
    third = client.get(
        f"/tokens/self/secrets?limit=2&cursor={second['next']}", headers=bearer(mine)
    ).json
    entries = first["secrets"] + second["secrets"] + third["secrets"]
    assert third["next"] is None and len(third["secrets"]) == 1
    ids = [e["id"] for e in entries]
    assert ids == sorted(set(ids), reverse=True)
    exact = client.get("/tokens/self/secrets?limit=5", headers=bearer(mine)).json
    assert len(exact["secrets"]) == 5 and exact["next"] is None
    assert [e["expires_at"] for e in entries] == sorted(
        (e["expires_at"] for e in entries), reverse=True
    )
    assert len(entries) == 5
    assert set(entries[0]) == {
        "id", "state", "created_at", "expires_at", "revealed_at", "opened_at", "failed_attempts",
    }  # fmt: skip
    text = json.dumps(entries)
    for secret in made:
        assert secret["secret_key"] not in text and secret["receipt_key"] not in text
    # Opened, failed, revealed: the list shows what the receipt shows.
    client.get(f"/secrets/{made[0]['secret_key']}")
    client.reveal(made[0]["secret_key"], "wrong")
    client.reveal(made[1]["secret_key"], "pw")
    states = {
        e["id"]: e for e in client.get("/tokens/self/secrets", headers=bearer(mine)).json["secrets"]
    }
    oldest, next_oldest = sorted(states)[:2]
    assert states[oldest]["opened_at"] is not None and states[oldest]["failed_attempts"] == 1
    assert states[next_oldest]["state"] == "revealed"
    theirs_listed = client.get("/tokens/self/secrets", headers=bearer(theirs)).json["secrets"]
    assert [e["notify"]["events"] for e in theirs_listed] == [["revealed"]]
    assert notified.status == 201
    # Burning: mine by id, once; theirs and nonsense ids are 404.
    burned = client.post(f"/tokens/self/secrets/{oldest}/burn", headers=bearer(mine))
    assert burned.status == 200 and burned.json == {"state": "burned"}
    assert client.get(f"/secrets/{made[0]['secret_key']}").status == 404
    again = assert_error(
        client.post(f"/tokens/self/secrets/{oldest}/burn", headers=bearer(mine)), 409, "not_pending"
    )
    assert again["state"] == "burned"
    for path_id in (theirs_listed[0]["id"], 0, 2**63, 10**30, -1):
        assert_error(
            client.post(f"/tokens/self/secrets/{path_id}/burn", headers=bearer(mine)),
            404,
            "not_found",
        )
    for query in ("limit=0", "limit=201", "limit=x", "cursor=abc", "cursor=0", "cursor=9" * 30):
        assert_error(
            client.get(f"/tokens/self/secrets?{query}", headers=bearer(mine)),
            422,
            "validation_error",
        )


def test_the_database_keeps_no_token_but_its_keyed_hash(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """A scan of every table finds neither the token nor its random part, nor a plain hash."""
    client = access_client(make_client, db_url, "token")
    token = issue(client, clock)
    assert create(client, bearer(token)).status == 201
    secret_part = token.text.split("_", 2)[2]
    forms = {
        token.text,
        secret_part,
        crypto.hashlib.sha256(token.text.encode()).hexdigest(),
        crypto.hashlib.sha256(secret_part.encode()).hexdigest(),
    }
    for (table,) in _tables(db_url):
        for row in sql(db_url, f"SELECT * FROM {table}"):
            dumped = repr(row)
            assert not any(form in dumped for form in forms), table
    (digest,) = sql(db_url, "SELECT digest FROM token")[0]
    assert digest == crypto.token_digest(secret_part, client.context.keys.newest.secret)


def _tables(db_url: str) -> list[tuple[str]]:
    if db_url.startswith("sqlite"):
        return sql(db_url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return sql(db_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")


def test_the_audit_log_names_the_token_and_metrics_count_refusals(
    make_client: MakeClient, db_url: str, clock: FakeClock, audit: list[dict[str, Any]]
) -> None:
    """A create with a token is logged with the token's id (never the token); refusals counted."""
    client = access_client(make_client, db_url, "network")
    token = issue(client, clock)
    before = {
        reason: metrics.CREATE_REFUSED.labels(reason)._value.get()
        for reason in ("forbidden", "unauthorized")
    }
    assert create(client, {**bearer(token), **INSIDE}).status == 201
    assert create(client, INSIDE).status == 201
    assert create(client).status == 403
    assert create(client, bearer("ots_1_" + "A" * 43)).status == 401
    assert [(line["event"], line.get("token")) for line in audit] == [
        ("created", token.token.id),
        ("created", None),
    ]
    assert token.text not in json.dumps(audit)
    after = {reason: metrics.CREATE_REFUSED.labels(reason)._value.get() for reason in before}
    assert after == {reason: count + 1 for reason, count in before.items()}


def test_a_sweep_on_a_create_is_nobodys_request(
    make_client: MakeClient, db_url: str, clock: FakeClock, audit: list[dict[str, Any]]
) -> None:
    """Under ASGI a create may sweep: the secrets it ends carry no token of that create."""
    client = access_client(
        make_client, db_url, "open", sweep_on_create=True, audit_client_address=True
    )
    token = issue(client, clock)
    assert create(client, ttl=60).status == 201
    clock.advance(3700)  # past the test settings' sweep interval and the secret's ttl
    assert create(client, bearer(token)).status == 201
    lines = [(line["event"], line.get("token"), "client" in line) for line in audit]
    assert lines == [
        ("created", None, True),
        ("created", token.token.id, True),
        ("expired", None, False),
    ]
