"""Webhooks from a real `ots serve` with two workers to a real receiver, on both databases."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from ots.config import Settings
from tests.support import (
    Receiver,
    eventually,
    free_port,
    make_settings,
    readme_snippet,
    running_server,
    settings_env,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow

WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_settings(db_url: str, **overrides: Any) -> Settings:
    """Two workers that may call a receiver on this machine over http, retrying after 1 s."""
    values: dict[str, Any] = {
        "port": free_port(),
        "workers": 2,
        "webhook_allow_private": True,
        "webhook_allow_http": True,
        "webhook_retry_base": 1,
        **overrides,
    }
    return make_settings(db_url, **values)


def _share(base: str, url: str, events: list[str]) -> tuple[Any, str]:
    response = httpx.post(
        f"{base}/generate",
        json={"secret": "s", "passphrase": "pw", "notify": {"url": url, "events": events}},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["webhook_secret"].startswith(WEBHOOK_SECRET_PREFIX)
    return body, body["webhook_secret"]


def delivered(base: str, receipt_keys: list[str], per_receipt: int) -> bool:
    """Whether every receipt lists ``per_receipt`` deliveries, all recorded as delivered.

    A delivered row is never leased again: once this holds, nothing more can arrive.
    """
    for key in receipt_keys:
        deliveries = httpx.get(f"{base}/receipts/{key}").json()["notify"]["deliveries"]
        if [d["state"] for d in deliveries] != ["delivered"] * per_receipt:
            return False
    return True


def test_each_reveal_is_delivered_once_and_signed(db_url: str, tmp_path: Path) -> None:
    """Ten secrets revealed through two workers: ten signed `revealed` events, one each."""
    verify = readme_snippet("verify-webhook")
    with (
        Receiver() as receiver,
        running_server(webhook_settings(db_url), tmp_path / "s.log") as base,
    ):
        shared = [_share(base, receiver.url, ["revealed"]) for _ in range(10)]
        for body, _ in shared:
            response = httpx.post(f"{base}/secrets/{body['secret_key']}", json={"passphrase": "pw"})
            assert response.status_code == 200
        receipts = [body["receipt_key"] for body, _ in shared]
        eventually(lambda: delivered(base, receipts, 1), "every delivery recorded as delivered")
        assert len(receiver.received) == 10
        ids = [headers["Ots-Event-Id"] for headers, _ in receiver.received]
        assert len(set(ids)) == 10
        fingerprints = {}
        for body, secret in shared:
            receipt = httpx.get(f"{base}/receipts/{body['receipt_key']}").json()
            fingerprints[receipt["notify"]["fingerprint"]] = secret
            assert [d["state"] for d in receipt["notify"]["deliveries"]] == ["delivered"]
        for headers, raw in receiver.received:
            event = json.loads(raw)
            assert (event["event"], event["state"]) == ("revealed", "revealed")
            assert event["id"] == headers["Ots-Event-Id"]
            secret = fingerprints[event["receipt"]]
            assert verify(secret, headers["Ots-Signature"], raw)
            assert not verify(secret, headers["Ots-Signature"], raw + b" ")
            for key in ("secret_key", "receipt_key"):
                assert all(body[key].encode() not in raw for body, _ in shared)


def test_a_receiver_failing_three_times_gets_the_fourth_try(db_url: str, tmp_path: Path) -> None:
    """500, 500, 500, then 204: delivered on attempt four, as the receipt tells."""
    with (
        Receiver(fail_first=3) as receiver,
        running_server(webhook_settings(db_url), tmp_path / "s.log") as base,
    ):
        body, _ = _share(base, receiver.url, ["burned"])
        assert httpx.post(f"{base}/receipts/{body['receipt_key']}/burn").status_code == 200
        eventually(lambda: receiver.received, "the fourth try", timeout=60)
        assert receiver.attempts == 4
        assert [e["event"] for e in receiver.events()] == ["burned"]
        delivery = httpx.get(f"{base}/receipts/{body['receipt_key']}").json()["notify"][
            "deliveries"
        ][0]
        assert (delivery["state"], delivery["attempts"]) == ("delivered", 4)


def test_an_event_outlives_a_kill_9_before_its_delivery(db_url: str, tmp_path: Path) -> None:
    """Reveal, kill -9 before any delivery got through, restart: delivered once per event id."""
    settings = webhook_settings(db_url)
    receiver_port = free_port()  # nothing listens there yet: every try fails
    url = f"http://127.0.0.1:{receiver_port}/hook"
    base = f"http://127.0.0.1:{settings.port}"
    with (tmp_path / "first.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ots.cli", "serve"],
            env=settings_env(settings),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_until_healthy(base, proc)
            bodies = [_share(base, url, ["revealed", "wrong_passphrase"])[0] for _ in range(3)]
            for body in bodies:
                key = body["secret_key"]
                assert (
                    httpx.post(f"{base}/secrets/{key}", json={"passphrase": "no"}).status_code
                    == 403
                )
                assert (
                    httpx.post(f"{base}/secrets/{key}", json={"passphrase": "pw"}).status_code
                    == 200
                )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    with (
        Receiver(port=receiver_port) as receiver,
        running_server(settings, tmp_path / "second.log"),
    ):
        receipts = [body["receipt_key"] for body in bodies]
        eventually(
            lambda: delivered(base, receipts, 2),
            "all six deliveries recorded as delivered after the restart",
            timeout=60,
        )
        ids = collections.Counter(headers["Ots-Event-Id"] for headers, _ in receiver.received)
        assert len(ids) == 6 and set(ids.values()) == {1}
        events = collections.Counter(e["event"] for e in receiver.events())
        assert events == {"revealed": 3, "wrong_passphrase": 3}
