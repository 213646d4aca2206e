"""One dead receiver delays no one: sends capped per host, a host that times out backed off.

These servers run their own delivery loop (unlike tests/api/test_events.py),
with hosts named by a fake DNS that points them all at this machine. The
fake clock stands still unless a test moves it, so a deferred delivery stays
deferred: what a receiver gets is decided by the rules, not by timing.
"""

from __future__ import annotations

from typing import Any

from ots.webhooks import GAVE_UP
from tests.api.test_events import (
    ALLOW_LOCAL,
    deliver,
    fake_dns,
    notify_of,
    share,
    stop_background_delivery,
)
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, HungReceiver, Receiver, until

CAP = 2
DNS = {name: ["127.0.0.1"] for name in ("hung.example", "healthy.example", "busy.example")}
# Generous bounds on waits for what the loop does on its own; they assert no speed.
WAIT = 30.0


def burned(client: Client, url: str) -> str:
    """Share a secret that notifies ``url`` of its burn, burn it; return its receipt key."""
    created = share(client, {"url": url, "events": ["burned"]}).json
    assert client.post(f"/receipts/{created['receipt_key']}/burn").status == 200
    return str(created["receipt_key"])


def start(make_client: MakeClient, db_url: str, **settings: Any) -> Client:
    """A server whose webhook host names all resolve to this machine, reached over http."""
    return make_client(db_url, resolver=fake_dns(DNS), **ALLOW_LOCAL, **settings)


def named(url: str, host: str) -> str:
    """``url`` of a receiver on 127.0.0.1, under the host name ``host``."""
    return url.replace("127.0.0.1", host)


def deliveries(client: Client, receipts: list[str]) -> list[dict[str, object]]:
    """The one delivery of each receipt, as the receipt shows it."""
    return [notify_of(client, receipt)["deliveries"][0] for receipt in receipts]


def test_a_healthy_receiver_is_not_queued_behind_64_hung_deliveries(
    make_client: MakeClient, db_url: str
) -> None:
    """64 events to a receiver that never answers, then one to another host: that one arrives."""
    # The timeout outlasts the test: the hung sends are still under way when the
    # healthy delivery arrives (a loop that waited for them would need minutes).
    client = start(make_client, db_url, webhook_timeout=120, webhook_max_per_host=CAP)
    with HungReceiver() as hung, Receiver() as healthy:
        hung_receipts = [burned(client, hung.url("hung.example")) for _ in range(64)]
        burned(client, named(healthy.url, "healthy.example"))
        client.run(until(lambda: healthy.received, "the healthy receiver's delivery", WAIT))
        assert hung.peak <= CAP
        assert hung.accepted <= CAP
        assert [e["event"] for e in healthy.events()] == ["burned"]
        states = {d["state"] for d in deliveries(client, hung_receipts)}
        assert states == {"pending"}


def test_a_host_that_timed_out_is_backed_off_and_its_deliveries_come_back(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """After a timeout the host gets nothing until its backoff passes; then it is tried again."""
    client = start(
        make_client, db_url, webhook_timeout=0.5, webhook_retry_base=10, webhook_max_per_host=CAP
    )
    deliverer = client.context.deliverer
    with HungReceiver() as hung, Receiver() as healthy:
        hung_receipts = [burned(client, hung.url("hung.example")) for _ in range(8)]
        client.run(
            until(lambda: hung.accepted == CAP and hung.open == 0, "the first timeouts", WAIT)
        )
        client.run(deliverer.drain())
        # Backed off: the six that waited behind the two timed-out sends were given
        # back unsent (their attempt not counted) instead of taking those sends.
        assert hung.accepted == CAP
        attempts = [d["attempts"] for d in deliveries(client, hung_receipts)]
        assert sorted(attempts) == [0] * 6 + [1] * CAP
        # Meanwhile a new event for the host is deferred unsent, and another host's
        # delivery goes out at once.
        hung_receipts.append(burned(client, hung.url("hung.example")))
        burned(client, named(healthy.url, "healthy.example"))
        client.run(until(lambda: healthy.received, "the healthy receiver's delivery", WAIT))
        assert hung.accepted == CAP
        # Past the backoff the host is tried again, and none of its deliveries is lost.
        clock.advance(11)
        deliverer.wake()
        client.run(
            until(lambda: hung.accepted == 2 * CAP and hung.open == 0, "the next tries", WAIT)
        )
        client.run(deliverer.drain())
        assert hung.peak <= CAP
        states = deliveries(client, hung_receipts)
        assert {d["state"] for d in states} == {"pending"}
        assert sum(int(str(d["attempts"])) for d in states) == hung.accepted


def test_deliveries_to_a_busy_host_take_turns(make_client: MakeClient, db_url: str) -> None:
    """Five events to one receiver, one send at a time: all go out in one pass, each once."""
    client = start(make_client, db_url, webhook_max_per_host=1)
    client.run(stop_background_delivery(client))
    with Receiver() as receiver:
        receipts = [burned(client, named(receiver.url, "busy.example")) for _ in range(5)]
        assert deliver(client) == 5
    assert len({headers["Ots-Event-Id"] for headers, _ in receiver.received}) == 5
    assert [(d["state"], d["attempts"]) for d in deliveries(client, receipts)] == [
        ("delivered", 1)
    ] * 5


def test_a_delivery_whose_retry_period_ends_during_the_backoff_is_dead(
    make_client: MakeClient, db_url: str
) -> None:
    """Queued behind a timeout, with the period ending before the backoff: dead, never sent."""
    client = start(
        make_client,
        db_url,
        webhook_timeout=0.5,
        webhook_retry_base=10,
        webhook_retry_period=5,
        webhook_max_per_host=1,
    )
    client.run(stop_background_delivery(client))
    with HungReceiver() as hung:
        receipts = [burned(client, hung.url("hung.example")) for _ in range(3)]
        assert deliver(client) == 3
    assert hung.accepted == 1
    sent, *queued = deliveries(client, receipts)
    assert (sent["state"], sent["last_error"]) in [
        ("dead", "TimeoutError"),
        ("dead", "ReadTimeout"),
    ]
    assert [(d["state"], d["last_error"]) for d in queued] == [("dead", GAVE_UP)] * 2


def test_a_delivery_that_waited_too_long_for_its_turn_is_leased_afresh(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """Its lease too short for a send when its turn comes: given back, then sent once."""
    pauses: list[float] = []

    async def slow_dns(host: str, port: int) -> list[str]:
        # A lookup may take a while (as the test says): time passes for the queued delivery.
        del host, port
        if pauses:
            clock.advance(pauses.pop())
        return ["127.0.0.1"]

    # A lease leaves a queued delivery one timeout (rounded up: 1 s) to wait for its turn.
    client = make_client(
        db_url, resolver=slow_dns, webhook_timeout=1, webhook_max_per_host=1, **ALLOW_LOCAL
    )
    client.run(stop_background_delivery(client))
    with Receiver() as receiver:
        url = named(receiver.url, "one.example")
        receipts = [burned(client, url) for _ in range(2)]
        pauses.append(2)
        assert deliver(client) == 2
        assert len(receiver.received) == 1
        assert deliver(client) == 1
    assert len(receiver.received) == 2
    assert len({headers["Ots-Event-Id"] for headers, _ in receiver.received}) == 2
    assert [(d["state"], d["attempts"]) for d in deliveries(client, receipts)] == [
        ("delivered", 1),
        ("delivered", 1),
    ]
