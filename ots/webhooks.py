"""Per-secret webhooks: the signature, the body, and the loop that delivers the outbox.

Events to deliver are rows of the ``delivery`` table (the outbox), written by
the store in the same transaction as the state change they report, so a
crash can neither lose nor invent one. Every worker of every replica runs a
``Deliverer``: it leases due rows (a lease is one atomic statement, with
``SKIP LOCKED`` on PostgreSQL), sends them outside any transaction, and
records the outcome. A delivery interrupted by a crash is sent again when
its lease runs out, with the same ``Ots-Event-Id``: delivery is at least
once, and the id lets a receiver drop a repeat.

A failed delivery is retried after ``OTS_WEBHOOK_RETRY_BASE`` seconds,
doubling each time, until ``OTS_WEBHOOK_RETRY_PERIOD`` has passed since the
event; then it is dead. A target refused by the SSRF guard is dead at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

import httpx

from ots import metrics
from ots.config import Settings
from ots.crypto import DecryptionError, fingerprint, open_webhook
from ots.domain import STATE_AFTER, DeliveryState, DueDelivery, Finished
from ots.errors import OtsError
from ots.events import utc_text
from ots.keyring import KeyFile
from ots.ssrf import RefusedTargetError, Resolver, Target, resolve_target, system_resolver

log = logging.getLogger("ots.webhooks")

EVENT_ID_HEADER: Final = "Ots-Event-Id"
SIGNATURE_HEADER: Final = "Ots-Signature"
# Rows leased per pass; they are sent concurrently.
BATCH: Final = 16
# Seconds between looks at the outbox when nothing woke the loop (other workers'
# events, retries that fell due).
POLL: Final = 1.0
# A lease outlives the longest send by this much, so that no other worker picks
# a row while it is still being sent.
LEASE_MARGIN: Final = 10
USER_AGENT: Final = "ots-webhook/1"
# At most this much of a failure is kept for the receipt.
ERROR_CHARS: Final = 120


class DeliveryStore(Protocol):
    """What the delivery loop needs from storage; ``ots.store.TortoiseStore`` is the real one."""

    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """Lease at most ``limit`` due deliveries until ``until``; none is leased twice."""

    async def finish_delivery(self, finished: Finished) -> None:
        """Record what became of one attempt."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the ``Ots-Signature`` value: ``t=<timestamp>,v1=<hex HMAC-SHA256>``.

    The MAC covers ``"<timestamp>.<body>"`` so that a captured delivery cannot
    be replayed later under a fresh timestamp.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def body_of(delivery: DueDelivery) -> bytes:
    """Return the JSON body for ``delivery``: never a key, a secret or a passphrase."""
    occurred = utc_text(delivery.occurred_at)
    document = {
        "id": delivery.event_id,
        "event": delivery.event.value,
        "occurred_at": occurred,
        "receipt": fingerprint(delivery.lookup),
        "state": STATE_AFTER[delivery.event].value,
    }
    return json.dumps(document, separators=(",", ":")).encode()


class Deliverer:
    """Sends the due rows of the outbox, in every worker, until cancelled."""

    def __init__(
        self,
        settings: Settings,
        store: DeliveryStore,
        keys: KeyFile,
        *,
        clock: Callable[[], float] = time.time,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Bind the loop to its settings, outbox, server keyring and clock.

        ``resolver`` and ``transport`` are for tests (a fake DNS, a mock network).
        """
        self._settings = settings
        self._store = store
        self._keys = keys
        self._clock = clock
        self._resolver = resolver
        self._transport = transport
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now: an event was just committed in this worker."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Deliver what is due, then wait for a wake-up or ``POLL`` seconds; until cancelled."""
        try:
            while True:
                try:
                    while await self.deliver_due() == BATCH:
                        pass
                except OtsError as exc:
                    log.warning("webhook delivery skipped: %s", exc.message)
                except Exception:
                    log.exception("webhook delivery failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL)
        except asyncio.CancelledError:
            # How a stop ends this task; a send cut short is sent again after its lease.
            return

    async def deliver_due(self) -> int:
        """Lease the due deliveries, send them concurrently, record each outcome."""
        now = int(self._clock())
        until = now + int(self._settings.webhook_timeout) + LEASE_MARGIN
        due = await self._store.lease_deliveries(now, until, BATCH)
        if due:
            await asyncio.gather(*(self._deliver(delivery) for delivery in due))
        return len(due)

    async def _deliver(self, delivery: DueDelivery) -> None:
        settings = self._settings
        try:
            url, secret = self._open(delivery)
            target = await resolve_target(
                url,
                allow_http=settings.webhook_allow_http,
                allow_private=settings.webhook_allow_private,
                resolver=self._resolver,
            )
        except (LookupError, RefusedTargetError) as exc:
            # Nothing will change by retrying: the key is gone, or the address is refused.
            await self._finish(delivery, DeliveryState.DEAD, None, f"refused: {exc}", "refused")
            return
        body = body_of(delivery)
        signature = sign(secret, int(self._clock()), body)
        try:
            # A total bound, not httpx's per-read one: a receiver dripping a byte at a
            # time must not outlive the lease (another worker would send it again).
            status = await asyncio.wait_for(
                self._send(target, delivery.event_id, signature, body),
                self._settings.webhook_timeout,
            )
        except (httpx.HTTPError, TimeoutError) as exc:
            await self._failed(delivery, None, type(exc).__name__)
            return
        if 200 <= status < 300:
            await self._finish(delivery, DeliveryState.DELIVERED, status, None, "delivered")
        else:
            await self._failed(delivery, status, f"HTTP {status}")

    def _open(self, delivery: DueDelivery) -> tuple[str, str]:
        webhook = delivery.webhook
        if webhook is None:
            raise LookupError("the subscription is gone")
        server_key = self._keys.find(webhook.key_id)
        if server_key is None:
            raise LookupError("its server key was removed")
        try:
            return open_webhook(webhook, server_key, delivery.lookup)
        except DecryptionError:
            raise LookupError("it does not open with its server key") from None

    async def _send(self, target: Target, event_id: str, signature: str, body: bytes) -> int:
        # To the address that was checked, never to a second resolution of the name
        # (DNS rebinding); the name still goes in Host and in TLS SNI, and the
        # certificate is checked against it.
        url = httpx.URL(target.url)
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            SIGNATURE_HEADER: signature,
        }
        # No pooling: a connection made for one name must not carry another's request.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(
            timeout=self._settings.webhook_timeout,
            follow_redirects=False,
            limits=limits,
            transport=self._transport,
            trust_env=False,
        ) as client:
            # Streamed and never read: only the status matters, and a receiver must
            # not make this worker hold a body of any size.
            request = client.build_request(
                "POST",
                url.copy_with(host=target.address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            )
            response = await client.send(request, stream=True)
            await response.aclose()
            return response.status_code

    async def _failed(self, delivery: DueDelivery, status: int | None, error: str) -> None:
        now = int(self._clock())
        delay = self._settings.webhook_retry_base * 2 ** (delivery.attempts - 1)
        if now + delay > delivery.occurred_at + self._settings.webhook_retry_period:
            await self._finish(delivery, DeliveryState.DEAD, status, error, "dead")
        else:
            await self._finish(
                delivery, DeliveryState.PENDING, status, error, "failed", now + delay
            )

    async def _finish(
        self,
        delivery: DueDelivery,
        state: DeliveryState,
        status: int | None,
        error: str | None,
        outcome: str,
        retry_at: int = 0,
    ) -> None:
        now = int(self._clock())
        await self._store.finish_delivery(
            Finished(
                id=delivery.id,
                state=state,
                at=now,
                retry_at=retry_at,
                status=status,
                error=None if error is None else error[:ERROR_CHARS],
            )
        )
        metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
        if state is not DeliveryState.DELIVERED:
            log.info(
                "webhook %s for %s: %s (attempt %d)",
                delivery.event_id,
                fingerprint(delivery.lookup),
                error,
                delivery.attempts,
            )
