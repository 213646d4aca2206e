"""Events through the API: notify on /generate, the SSRF guard, deliveries, the audit log."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from ots import metrics
from ots.app import WEBHOOK_TASK
from tests.conftest import Client, MakeClient
from tests.support import (
    FakeClock,
    Receiver,
    assert_error,
    create_secret,
    readme_snippet,
    sql,
)

ALLOW_LOCAL = {"webhook_allow_private": True, "webhook_allow_http": True}


def fake_dns(table: dict[str, list[str]]) -> Any:
    """A resolver that answers from ``table`` (a missing name does not resolve)."""

    async def resolve(host: str, port: int) -> list[str]:
        del port
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


def share(client: Client, notify: dict[str, Any]) -> Any:
    """POST /generate with ``notify``; return the response."""
    return client.post("/generate", json={"secret": "s", "passphrase": "pw", "notify": notify})


@pytest.fixture
def make_client(make_client: MakeClient) -> MakeClient:
    """In-process servers whose delivery loop runs only when the test says (``deliver``)."""

    def make(database_url: str, **overrides: Any) -> Client:
        client = make_client(database_url, **overrides)
        client.run(stop_background_delivery(client))
        return client

    return make


async def stop_background_delivery(client: Client) -> None:
    """Cancel the server's own delivery loop, so that passes happen only in ``deliver``."""
    await client.app.cancel_task(WEBHOOK_TASK, raise_exception=False)
    task = client.app.ctx.tasks.pop(WEBHOOK_TASK, None)
    if task is not None:
        task.cancel()


def deliver(client: Client) -> int:
    """Run one pass of the server's delivery loop; return how many deliveries it leased."""
    count: int = client.run(client.context.deliverer.deliver_due())
    return count


def notify_of(client: Client, receipt_key: str) -> dict[str, Any]:
    """The receipt's notify section."""
    section: dict[str, Any] = client.get(f"/receipts/{receipt_key}").json["notify"]
    return section


def test_notify_returns_a_webhook_secret_and_the_receipt_shows_it(
    make_client: MakeClient, db_url: str
) -> None:
    """201 adds webhook_secret; the receipt shows the fingerprint, the events, no delivery yet."""
    client = make_client(db_url, **ALLOW_LOCAL)
    response = share(client, {"url": "http://127.0.0.1:9/hook", "events": ["burned", "revealed"]})
    assert response.status == 201
    body = response.json
    assert set(body) == {"secret_key", "receipt_key", "expires_at", "webhook_secret"}
    assert body["webhook_secret"].startswith("whsec_")
    notify = notify_of(client, body["receipt_key"])
    assert notify["events"] == ["burned", "revealed"]
    assert notify["deliveries"] == []
    assert len(notify["fingerprint"]) == 20
    plain = create_secret(client)
    assert (
        "webhook_secret"
        not in client.post("/generate", json={"secret": "s", "passphrase": "p"}).json
    )
    assert "notify" not in client.get(f"/receipts/{plain.receipt_key}").json


def test_the_url_and_signing_secret_are_sealed_at_rest(
    make_client: MakeClient, db_url: str
) -> None:
    """The webhook row holds neither the URL nor the signing secret in the clear."""
    client = make_client(db_url, **ALLOW_LOCAL)
    url = "http://127.0.0.1:9/Marker-Webhook-Path"
    created = share(client, {"url": url}).json
    (row,) = sql(db_url, "SELECT events, key_id, nonce, sealed FROM webhook")
    stored = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in row)
    for needle in (b"Marker-Webhook-Path", created["webhook_secret"].encode()):
        assert needle not in stored


def test_events_default_to_all(make_client: MakeClient, db_url: str) -> None:
    """Without events, every notifiable event is subscribed."""
    client = make_client(db_url, **ALLOW_LOCAL)
    body = share(client, {"url": "http://127.0.0.1:9/hook"}).json
    assert notify_of(client, body["receipt_key"])["events"] == [
        "burned",
        "destroyed",
        "expired",
        "revealed",
        "wrong_passphrase",
    ]


@pytest.mark.parametrize(
    ("notify", "field"),
    [
        ({"url": "https://127.0.0.1/hook"}, "notify.url"),
        ({"url": "https://169.254.169.254/latest/meta-data"}, "notify.url"),
        ({"url": "https://[::1]/hook"}, "notify.url"),
        ({"url": "https://[::ffff:10.0.0.1]/hook"}, "notify.url"),
        ({"url": "https://internal.example/hook"}, "notify.url"),
        ({"url": "https://split.example/hook"}, "notify.url"),
        ({"url": "https://nowhere.example/hook"}, "notify.url"),
        ({"url": "http://public.example/hook"}, "notify.url"),
        ({"url": "ftp://public.example/hook"}, "notify.url"),
        ({"url": "https://user:pw@public.example/hook"}, "notify.url"),
        ({"url": "https:///nohost"}, "notify.url"),
        ({"url": "https://public.example:99999/"}, "notify.url"),
        ({"url": "https://public.example/" + "a" * 2100}, "notify.url"),
        ({"url": ""}, "notify.url"),
        ({"url": 5}, "notify.url"),
        ({"url": "https://public.example/hook", "events": ["created"]}, "notify.events.0"),
        ({"url": "https://public.example/hook", "events": []}, "notify.events"),
        ({"url": "https://public.example/hook", "events": "revealed"}, "notify.events"),
        ({"events": ["revealed"]}, "notify.url"),
        ("https://public.example/hook", "notify"),
    ],
)
def test_refused_targets_are_422_naming_the_field(
    make_client: MakeClient, db_url: str, notify: Any, field: str
) -> None:
    """Loopback, private, link-local, metadata (after DNS), http, odd URLs: 422, nothing stored."""
    dns = fake_dns(
        {
            "public.example": ["93.184.216.34"],
            "internal.example": ["10.1.2.3"],
            "split.example": ["93.184.216.34", "192.168.1.5"],
        }
    )
    client = make_client(db_url, resolver=dns)
    body = assert_error(share(client, notify), 422, "validation_error")
    assert field in [detail["field"] for detail in body["details"]], body
    assert share(client, {"url": "https://public.example/hook"}).status == 201


def test_webhooks_off_refuse_notify(make_client: MakeClient, db_url: str) -> None:
    """OTS_WEBHOOKS=false: a notify is 422; a plain create still works."""
    client = make_client(db_url, webhooks=False)
    body = assert_error(share(client, {"url": "https://example.com/"}), 422, "validation_error")
    assert body["details"][0]["field"] == "notify"
    create_secret(client)


def test_each_event_is_delivered_once_signed(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """wrong_passphrase, then revealed: two deliveries, signed, with the receipt's fingerprint."""
    verify = readme_snippet("verify-webhook")
    client = make_client(db_url, **ALLOW_LOCAL)
    with Receiver() as receiver:
        created = share(client, {"url": receiver.url}).json
        key = created["secret_key"]
        assert client.reveal(key, "wrong").status == 403
        assert client.reveal(key, "pw").status == 200
        assert deliver(client) == 2
        assert deliver(client) == 0
    notify = notify_of(client, created["receipt_key"])
    # Due deliveries are sent concurrently: arrival order is not event order.
    order = [d["id"] for d in notify["deliveries"]]
    assert sorted(order) == sorted(h["Ots-Event-Id"] for h, _ in receiver.received)
    receiver.received.sort(key=lambda r: order.index(r[0]["Ots-Event-Id"]))
    assert [e["event"] for e in receiver.events()] == ["wrong_passphrase", "revealed"]
    assert [e["state"] for e in receiver.events()] == ["pending", "revealed"]
    for headers, raw in receiver.received:
        event = json.loads(raw)
        assert set(event) == {"id", "event", "occurred_at", "receipt", "state"}
        assert event["receipt"] == notify["fingerprint"]
        assert event["id"] == headers["Ots-Event-Id"]
        assert headers["Content-Type"] == "application/json"
        assert verify(created["webhook_secret"], headers["Ots-Signature"], raw)
        assert not verify("whsec_other", headers["Ots-Signature"], raw)
        assert not verify(created["webhook_secret"], headers["Ots-Signature"], raw[:-1] + b" ")
        for value in (key, created["receipt_key"], "pw", created["webhook_secret"]):
            assert value.encode() not in raw
    deliveries = notify["deliveries"]
    assert [(d["event"], d["state"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("wrong_passphrase", "delivered", 1, 204),
        ("revealed", "delivered", 1, 204),
    ]
    assert [d["id"] for d in deliveries] == [h["Ots-Event-Id"] for h, _ in receiver.received]


def test_an_old_signature_does_not_verify(make_client: MakeClient, db_url: str) -> None:
    """The documented check refuses a replay outside its tolerance."""
    verify = readme_snippet("verify-webhook")
    from ots.webhooks import sign

    body = b'{"event":"revealed"}'
    assert verify("whsec_x", sign("whsec_x", 1_000_000_000, body), body) is False
    assert verify("whsec_x", "garbage", body) is False


def test_failures_back_off_then_die(make_client: MakeClient, db_url: str, clock: FakeClock) -> None:
    """A failing receiver is retried after 10, 20, 40 s…; past the retry period the row is dead."""
    client = make_client(db_url, webhook_retry_base=10, webhook_retry_period=60, **ALLOW_LOCAL)
    with Receiver(fail_first=100) as receiver:
        created = share(client, {"url": receiver.url, "events": ["burned"]}).json
        assert client.post(f"/receipts/{created['receipt_key']}/burn").status == 200
        assert deliver(client) == 1
        clock.advance(9)
        assert deliver(client) == 0  # not due before 10 s
        clock.advance(1)
        assert deliver(client) == 1
        clock.advance(20)
        assert deliver(client) == 1  # 30 s after the event; the next try would be at 70 s
        clock.advance(100)
        assert deliver(client) == 0
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert (delivery["state"], delivery["attempts"]) == ("dead", 3)
    assert (delivery["last_status"], delivery["last_error"]) == (500, "HTTP 500")
    assert receiver.attempts == 3


def test_redirects_are_not_followed(make_client: MakeClient, db_url: str) -> None:
    """A 307 is a failed attempt, retried later; the Location is never requested."""
    client = make_client(db_url, **ALLOW_LOCAL)
    with Receiver(fail_first=1, fail_status=307) as receiver:
        created = share(client, {"url": receiver.url, "events": ["burned"]}).json
        client.post(f"/receipts/{created['receipt_key']}/burn")
        assert deliver(client) == 1
    assert (receiver.attempts, receiver.received) == (1, [])
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert (delivery["state"], delivery["last_status"]) == ("pending", 307)


def test_a_receiver_that_never_answers_is_cut_off(make_client: MakeClient, db_url: str) -> None:
    """Accepted and then silence: the attempt ends at OTS_WEBHOOK_TIMEOUT as a failure."""
    client = make_client(db_url, webhook_timeout=0.5, **ALLOW_LOCAL)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        created = share(client, {"url": url, "events": ["burned"]}).json
        client.post(f"/receipts/{created['receipt_key']}/burn")
        assert deliver(client) == 1
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert (delivery["state"], delivery["last_status"]) == ("pending", None)
    assert delivery["last_error"] in ("TimeoutError", "ReadTimeout")


def test_an_unreachable_receiver_is_retried(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Nothing listening: the attempt fails (no status), and succeeds once the receiver is up."""
    client = make_client(db_url, webhook_retry_base=1, **ALLOW_LOCAL)
    receiver = Receiver()
    created = share(client, {"url": receiver.url, "events": ["burned"]}).json
    client.post(f"/receipts/{created['receipt_key']}/burn")
    assert deliver(client) == 1
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert (delivery["state"], delivery["last_status"]) == ("pending", None)
    assert delivery["last_error"] == "ConnectError"
    clock.advance(1)
    with receiver:
        assert deliver(client) == 1
    assert [e["event"] for e in receiver.events()] == ["burned"]


def test_a_name_that_turns_private_after_create_is_refused_at_delivery(
    make_client: MakeClient, db_url: str
) -> None:
    """DNS rebinding: public at create, 10.x at delivery: dead at once, nothing sent."""
    table = {"rebind.example": ["93.184.216.34"]}
    client = make_client(db_url, resolver=fake_dns(table))
    created = share(client, {"url": "https://rebind.example/hook", "events": ["burned"]}).json
    client.post(f"/receipts/{created['receipt_key']}/burn")
    table["rebind.example"] = ["10.0.0.7"]
    before = metrics_value("refused")
    assert deliver(client) == 1
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert delivery["state"] == "dead"
    assert delivery["last_error"].startswith("refused: ")
    assert metrics_value("refused") == before + 1


# AAAA answers that reach a private IPv4 address, or forms no receiver needs.
EMBEDDING_AAAA = {
    "nat64-private": "64:ff9b::10.0.0.1",
    "nat64-metadata": "64:ff9b::169.254.169.254",
    "nat64-local-use": "64:ff9b:1::808:808",
    "ipv4-compatible": "::10.0.0.1",
    "siit": "::ffff:0:10.0.0.1",
    "6to4": "2002:a00:1::1",
    "site-local": "fec0::1",
}


@pytest.mark.parametrize("aaaa", EMBEDDING_AAAA.values(), ids=EMBEDDING_AAAA.keys())
def test_an_aaaa_record_embedding_a_private_address_is_refused_at_create(
    make_client: MakeClient, db_url: str, aaaa: str
) -> None:
    """A name with a public A and such an AAAA record: 422 naming notify.url, nothing stored."""
    dns = fake_dns({"v6.example": ["93.184.216.34", aaaa], "nat64.example": ["64:ff9b::5db8:d822"]})
    client = make_client(db_url, resolver=dns)
    body = assert_error(share(client, {"url": "https://v6.example/hook"}), 422, "validation_error")
    assert [detail["field"] for detail in body["details"]] == ["notify.url"]
    assert sql(db_url, "SELECT COUNT(*) FROM webhook") == [(0,)]
    # NAT64 of a public IPv4 address (an IPv6-only host behind DNS64) is fine.
    assert share(client, {"url": "https://nat64.example/hook"}).status == 201


@pytest.mark.parametrize("aaaa", EMBEDDING_AAAA.values(), ids=EMBEDDING_AAAA.keys())
def test_an_aaaa_record_embedding_a_private_address_is_refused_at_delivery(
    make_client: MakeClient, db_url: str, aaaa: str
) -> None:
    """Public at create, such an AAAA record at delivery: dead at once, nothing sent."""
    table = {"rebind.example": ["2606:4700:4700::1111"]}
    client = make_client(db_url, resolver=fake_dns(table))
    created = share(client, {"url": "https://rebind.example/hook", "events": ["burned"]}).json
    client.post(f"/receipts/{created['receipt_key']}/burn")
    table["rebind.example"] = [aaaa]
    before = metrics_value("refused")
    assert deliver(client) == 1
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert (delivery["state"], delivery["attempts"]) == ("dead", 1)
    assert delivery["last_error"].startswith("refused: ")
    assert metrics_value("refused") == before + 1


def test_a_subscription_whose_server_key_is_gone_is_dead(
    make_client: MakeClient, db_url: str
) -> None:
    """The URL is sealed under a server key: without that key, nothing can be sent."""
    client = make_client(db_url, **ALLOW_LOCAL)
    created = share(client, {"url": "http://127.0.0.1:9/", "events": ["burned"]}).json
    client.post(f"/receipts/{created['receipt_key']}/burn")
    sql(db_url, "UPDATE webhook SET key_id = 'removed'")
    assert deliver(client) == 1
    (delivery,) = notify_of(client, created["receipt_key"])["deliveries"]
    assert delivery["state"] == "dead"
    assert "server key" in delivery["last_error"]


def test_only_subscribed_events_are_queued(make_client: MakeClient, db_url: str) -> None:
    """A webhook for burned hears nothing of a reveal."""
    client = make_client(db_url, **ALLOW_LOCAL)
    created = share(client, {"url": "http://127.0.0.1:9/", "events": ["burned"]}).json
    assert client.reveal(created["secret_key"], "pw").status == 200
    assert deliver(client) == 0
    assert notify_of(client, created["receipt_key"])["deliveries"] == []


def test_expiry_is_an_event(make_client: MakeClient, db_url: str, clock: FakeClock) -> None:
    """The sweeper's removal of an unread secret is its expired event."""
    client = make_client(db_url, **ALLOW_LOCAL)
    with Receiver() as receiver:
        created = share(client, {"url": receiver.url, "events": ["expired"]}).json
        clock.advance(3600 * 24 * 8)
        client.run(client.context.maintenance.sweep())
        assert deliver(client) == 1
    assert [(e["event"], e["state"]) for e in receiver.events()] == [("expired", "expired")]
    assert notify_of(client, created["receipt_key"])["deliveries"][0]["state"] == "delivered"


def test_the_audit_log_has_one_line_per_event_and_no_key(
    make_client: MakeClient, db_url: str, clock: FakeClock, audit: list[dict[str, Any]]
) -> None:
    """created, checked, wrong_passphrase, revealed, burned, destroyed, expired: one line each."""
    client = make_client(db_url, max_attempts=2)
    first = create_secret(client, "s1", "pw")
    assert client.get(f"/secrets/{first.secret_key}").status == 200
    assert client.reveal(first.secret_key, "no").status == 403
    assert client.reveal(first.secret_key, "pw").status == 200
    second = create_secret(client, "s2", "pw")
    assert client.post(f"/receipts/{second.receipt_key}/burn").status == 200
    third = create_secret(client, "s3", "pw")
    client.reveal(third.secret_key, "no")
    client.reveal(third.secret_key, "no")
    create_secret(client, "s4", "pw", ttl=60)
    clock.advance(61)
    client.run(client.context.maintenance.sweep())
    assert [line["event"] for line in audit] == [
        "created",
        "checked",
        "wrong_passphrase",
        "revealed",
        "created",
        "burned",
        "created",
        "wrong_passphrase",
        "destroyed",
        "created",
        "expired",
    ]
    receipts = [line["receipt"] for line in audit]
    assert len(set(receipts)) == 4
    assert all(set(line) == {"time", "event", "receipt"} for line in audit)
    text = json.dumps(audit)
    for created in (first, second, third):
        for value in (created.secret_key, created.receipt_key):
            assert value not in text


@pytest.mark.parametrize("opted_in", [False, True])
def test_the_audit_log_names_the_client_only_if_asked(
    make_client: MakeClient, db_url: str, audit: list[dict[str, Any]], opted_in: bool
) -> None:
    """OTS_AUDIT_CLIENT_ADDRESS=true adds the client's address."""
    create_secret(make_client(db_url, audit_client_address=opted_in))
    assert audit[0].get("client") == ("127.0.0.1" if opted_in else None)


def test_events_are_counted_in_metrics(make_client: MakeClient, db_url: str) -> None:
    """ots_events_total counts each event by type."""
    client = make_client(db_url)
    before = metrics.REGISTRY.get_sample_value("ots_events_total", {"event": "created"}) or 0
    create_secret(client)
    after = metrics.REGISTRY.get_sample_value("ots_events_total", {"event": "created"})
    assert after == before + 1


def metrics_value(outcome: str) -> float:
    """The webhook deliveries counted with ``outcome`` so far."""
    value = metrics.REGISTRY.get_sample_value("ots_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0
