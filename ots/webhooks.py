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

One dead receiver must not delay everyone: sends are capped per destination
host and a host that times out is backed off (``ots.hostgate``). The host is
only known once a leased row's URL is opened with the server key, so the cap
is applied after the lease, and a row that may not go yet is given back
unsent. No column names the host: even a keyed digest of it would show, in a
copy of the database, which secrets notify the same receiver. The per-host
state is each worker's own; the outbox rows stay the only record, so a
delivery is never lost by it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlsplit

import httpx

from ots import metrics
from ots.config import Settings
from ots.crypto import DecryptionError, fingerprint, open_webhook
from ots.domain import STATE_AFTER, DeliveryState, DueDelivery, Finished
from ots.errors import OtsError
from ots.events import utc_text
from ots.hostgate import Action, HostGate, Outcome
from ots.keyring import KeyFile
from ots.ssrf import RefusedTargetError, Resolver, Target, resolve_target, system_resolver

log = logging.getLogger("ots.webhooks")

EVENT_ID_HEADER: Final = "Ots-Event-Id"
SIGNATURE_HEADER: Final = "Ots-Signature"
# Sends under way at once per worker, whatever their hosts; rows are leased only
# while one of them is free.
MAX_SENDS: Final = 16
# Leased rows that may wait in their hosts' queues per worker (beyond it, a row for a
# host at its cap is given back, due again after a lease's length).
MAX_WAITING: Final = 1024
# The longest a host that keeps timing out is backed off, in seconds.
HOST_BACKOFF_MAX: Final = 3600
# Seconds between looks at the outbox when nothing woke the loop (other workers'
# events, retries that fell due).
POLL: Final = 1.0
# A lease outlives the longest send by this much, so that no other worker picks
# a row while it is still being sent.
LEASE_MARGIN: Final = 10
USER_AGENT: Final = "ots-webhook/1"
# At most this much of a failure is kept for the receipt.
ERROR_CHARS: Final = 120
# Why a delivery that never got its turn was given up.
GAVE_UP: Final = "gave up: the retry period ran out while its host was backed off or busy"


class DeliveryStore(Protocol):
    """What the delivery loop needs from storage; ``ots.store.TortoiseStore`` is the real one."""

    async def lease_deliveries(self, now: int, until: int, limit: int) -> list[DueDelivery]:
        """Lease at most ``limit`` due deliveries until ``until``; none is leased twice."""

    async def release_deliveries(self, ids: Sequence[int], until: int, retry_at: int) -> int:
        """Give back unused leases taken ``until``: due at ``retry_at``, the attempt uncounted."""

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


@dataclass(frozen=True)
class _Leased:
    """A leased delivery, opened: where it goes, and the lease to give back if unused."""

    delivery: DueDelivery
    # The lease as taken: giving it back checks that it is still ours.
    until: int
    host: str
    url: str = field(repr=False)
    secret: str = field(repr=False)


class Deliverer:
    """Sends the due rows of the outbox, in every worker, until cancelled.

    At most ``MAX_SENDS`` sends are under way at once, and at most
    ``OTS_WEBHOOK_MAX_PER_HOST`` of them to one host (``ots.hostgate``): a
    receiver that hangs holds only its host's sends, and after a timeout its
    host is backed off, so the other subscribers' deliveries go out meanwhile.
    Only as many rows are leased as sends are free. A leased row for a host at
    its cap waits in that host's queue; one for a host backed off is given back
    unsent (its attempt not counted), due when the backoff ends.
    """

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
        timeout = math.ceil(settings.webhook_timeout)
        # What a send needs left on its lease; a lease also covers one wait in its
        # host's queue, where a send ahead of it ends within the timeout.
        self._send_needs = timeout + LEASE_MARGIN
        self._lease = self._send_needs + timeout
        self._gate: HostGate[_Leased] = HostGate(
            settings.webhook_max_per_host,
            settings.webhook_retry_base,
            HOST_BACKOFF_MAX,
            MAX_WAITING,
            # By then the rows that filled the queues have been sent or given back.
            overflow=self._lease,
        )
        self._sends: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Look at the outbox now: an event was just committed in this worker."""
        self._wake.set()

    async def run_forever(self) -> None:
        """Lease and send what is due, then wait for a wake-up or ``POLL`` seconds; until cancelled.

        A send that ends wakes the loop, so that its place is taken at once.
        """
        try:
            while True:
                # Cleared before the pass, so that a send ending during it wakes the next.
                self._wake.clear()
                try:
                    await self.dispatch()
                except OtsError as exc:
                    log.warning("webhook delivery skipped: %s", exc.message)
                except Exception:
                    log.exception("webhook delivery failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL)
        except asyncio.CancelledError:
            # How a stop ends this task. A send cut short, or a delivery still waiting
            # for its host, is sent again after its lease.
            for task in self._sends:
                task.cancel()
            await asyncio.gather(*self._sends, return_exceptions=True)
            return

    async def deliver_due(self) -> int:
        """Run one pass, then wait for every send it started and every one queued behind them.

        Returns:
            How many deliveries the pass leased.
        """
        leased = await self.dispatch()
        await self.drain()
        return leased

    async def drain(self) -> None:
        """Wait until no send is under way: those started, and those queued behind them."""
        while pending := {task for task in self._sends if not task.done()}:
            await asyncio.wait(pending)

    async def dispatch(self) -> int:
        """Lease due deliveries while sends are free; start each send its host allows.

        Returns:
            How many deliveries were leased.
        """
        leased = 0
        while (room := MAX_SENDS - self._sending()) > 0:
            now = int(self._clock())
            until = now + self._lease
            due = await self._store.lease_deliveries(now, until, room)
            leased += len(due)
            deferred: dict[int, list[_Leased]] = collections.defaultdict(list)
            for delivery in due:
                try:
                    url, secret = self._open(delivery)
                except LookupError as exc:
                    # Nothing will change by retrying: the key or the subscription is gone.
                    await self._finish(
                        delivery, DeliveryState.DEAD, None, f"refused: {exc}", "refused"
                    )
                    continue
                item = _Leased(delivery, until, _host_of(url), url, secret)
                verdict = self._gate.admit(item.host, item, now)
                if verdict.action is Action.SEND:
                    self._start(item)
                elif verdict.action is Action.DEFER:
                    deferred[verdict.retry_at].append(item)
            for retry_at, items in deferred.items():
                await self._defer(items, retry_at)
            if len(due) < room:
                # Nothing more is due; a send that ends, or a new event, wakes the loop.
                break
        return leased

    def _sending(self) -> int:
        return sum(1 for task in self._sends if not task.done())

    def _start(self, item: _Leased) -> None:
        task = asyncio.create_task(self._send_one(item))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send_one(self, item: _Leased) -> None:
        # One send, then its host's bookkeeping: the next in the host's queue takes the
        # send, or, if the host timed out, its queue is given back until the backoff ends.
        outcome = Outcome.OTHER
        try:
            outcome = await self._deliver(item)
        except OtsError as exc:
            log.warning("webhook delivery not recorded: %s", exc.message)
        except Exception:
            # The lease runs out and the row is sent again: at least once.
            log.exception("webhook delivery failed")
        stale, retry_at = self._gate.settle(item.host, self._clock(), outcome)
        try:
            if stale:
                log.info(
                    "webhook host timed out: %d queued deliveries wait until %s",
                    len(stale),
                    utc_text(retry_at),
                )
                await self._defer(stale, retry_at)
            await self._take_turns(item.host)
        except OtsError as exc:
            log.warning("webhook leases not given back: %s", exc.message)
        except Exception:
            log.exception("webhook leases not given back")
        self._wake.set()

    async def _take_turns(self, host: str) -> None:
        # Start the next delivery waiting for ``host`` if it is its turn. One that waited
        # so long that its lease could run out during the send is given back, due now:
        # a later pass leases it afresh.
        while (item := self._gate.promote(host, self._clock())) is not None:
            now = int(self._clock())
            if item.until - now >= self._send_needs:
                self._start(item)
                return
            self._gate.vacate(host, now)
            await self._defer([item], now)

    async def _defer(self, items: list[_Leased], retry_at: int) -> None:
        # Give unused leases back, due again at ``retry_at``; a delivery whose retry
        # period ends before then is dead instead.
        period = self._settings.webhook_retry_period
        released: dict[int, list[int]] = collections.defaultdict(list)
        for item in items:
            if retry_at > item.delivery.occurred_at + period:
                await self._finish(item.delivery, DeliveryState.DEAD, None, GAVE_UP, "dead")
            else:
                released[item.until].append(item.delivery.id)
        for until, ids in released.items():
            await self._store.release_deliveries(ids, until, retry_at)

    async def _deliver(self, item: _Leased) -> Outcome:
        delivery = item.delivery
        body = body_of(delivery)
        try:
            # A total bound, not httpx's per-read one: a receiver dripping a byte at a
            # time must not outlive the lease (another worker would send it again). It
            # covers the name's resolution too: a name whose DNS hangs holds a send
            # as long as a receiver that hangs.
            status = await asyncio.wait_for(
                self._attempt(item, body), self._settings.webhook_timeout
            )
        except RefusedTargetError as exc:
            # Nothing will change by retrying: the address is refused.
            await self._finish(delivery, DeliveryState.DEAD, None, f"refused: {exc}", "refused")
            return Outcome.OTHER
        except (httpx.TimeoutException, TimeoutError) as exc:
            await self._failed(delivery, None, type(exc).__name__)
            return Outcome.TIMED_OUT
        except httpx.HTTPError as exc:
            await self._failed(delivery, None, type(exc).__name__)
            return Outcome.OTHER
        if 200 <= status < 300:
            await self._finish(delivery, DeliveryState.DELIVERED, status, None, "delivered")
        else:
            await self._failed(delivery, status, f"HTTP {status}")
        return Outcome.ANSWERED

    async def _attempt(self, item: _Leased, body: bytes) -> int:
        settings = self._settings
        target = await resolve_target(
            item.url,
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private,
            resolver=self._resolver,
        )
        signature = sign(item.secret, int(self._clock()), body)
        return await self._send(target, item.delivery.event_id, signature, body)

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


def _host_of(url: str) -> str:
    # The host name a URL goes to, lower-cased: what the per-host cap and backoff count by.
    return urlsplit(url).hostname or ""
