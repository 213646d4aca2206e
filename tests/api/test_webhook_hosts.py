"""One dead receiver delays no one: sends capped per host, a host that times out backed off.

These servers run their own delivery loop (unlike tests/api/test_events.py),
with hosts named by a fake DNS that points them all at this machine. The
fake clock stands still unless a test moves it, so a deferred delivery stays
deferred: what a receiver gets is decided by the rules, not by timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.api.test_events import ALLOW_LOCAL, fake_dns, notify_of, share
from tests.conftest import Client, MakeClient
from tests.support import FakeClock, HungReceiver, Receiver

CAP = 2
DNS = {"hung.example": ["127.0.0.1"], "healthy.example": ["127.0.0.1"]}
# Generous bounds on waits for what the loop does on its own; they assert no speed.
WAIT = 30.0


async def until(check: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Run the server's loop until ``check()`` holds; fail naming ``what`` after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def burned(client: Client, url: str) -> str:
    """Share a secret that notifies ``url`` of its burn, burn it; return its receipt key."""
    created = share(client, {"url": url, "events": ["burned"]}).json
    assert client.post(f"/receipts/{created['receipt_key']}/burn").status == 200
    return str(created["receipt_key"])


def deliveries(client: Client, receipts: list[str]) -> list[dict[str, object]]:
    """The one delivery of each receipt, as the receipt shows it."""
    return [notify_of(client, receipt)["deliveries"][0] for receipt in receipts]


def test_a_healthy_receiver_is_not_queued_behind_64_hung_deliveries(
    make_client: MakeClient, db_url: str
) -> None:
    """64 events to a receiver that never answers, then one to another host: that one arrives."""
    # The timeout outlasts the test: the hung sends are still under way when the
    # healthy delivery arrives (a loop that waited for them would need minutes).
    client = make_client(
        db_url,
        resolver=fake_dns(DNS),
        webhook_timeout=120,
        webhook_max_per_host=CAP,
        **ALLOW_LOCAL,
    )
    with HungReceiver() as hung, Receiver() as healthy:
        hung_receipts = [burned(client, hung.url("hung.example")) for _ in range(64)]
        burned(client, healthy.url.replace("127.0.0.1", "healthy.example"))
        client.run(until(lambda: healthy.received, "the healthy receiver's delivery"))
        assert hung.peak <= CAP
        assert hung.accepted <= CAP
        assert [e["event"] for e in healthy.events()] == ["burned"]
        states = {d["state"] for d in deliveries(client, hung_receipts)}
        assert states == {"pending"}


def test_a_host_that_timed_out_is_backed_off_and_its_deliveries_come_back(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """After a timeout the host gets nothing until its backoff passes; then it is tried again."""
    client = make_client(
        db_url,
        resolver=fake_dns(DNS),
        webhook_timeout=0.5,
        webhook_retry_base=10,
        webhook_max_per_host=CAP,
        **ALLOW_LOCAL,
    )
    deliverer = client.app.ctx.deliverer
    with HungReceiver() as hung, Receiver() as healthy:
        hung_receipts = [burned(client, hung.url("hung.example")) for _ in range(8)]
        client.run(until(lambda: hung.accepted == CAP and hung.open == 0, "the first timeouts"))
        client.run(deliverer.drain())
        # Backed off: the six that waited behind the two timed-out sends were given
        # back unsent (their attempt not counted) instead of taking those sends.
        assert hung.accepted == CAP
        attempts = [d["attempts"] for d in deliveries(client, hung_receipts)]
        assert sorted(attempts) == [0] * 6 + [1] * CAP
        # Meanwhile another host's delivery goes out at once.
        burned(client, healthy.url.replace("127.0.0.1", "healthy.example"))
        client.run(until(lambda: healthy.received, "the healthy receiver's delivery"))
        assert hung.accepted == CAP
        # Past the backoff the host is tried again, and none of its deliveries is lost.
        clock.advance(11)
        deliverer.wake()
        client.run(until(lambda: hung.accepted == 2 * CAP and hung.open == 0, "the next tries"))
        client.run(deliverer.drain())
        assert hung.peak <= CAP
        states = deliveries(client, hung_receipts)
        assert {d["state"] for d in states} == {"pending"}
        assert sum(int(str(d["attempts"])) for d in states) == hung.accepted
