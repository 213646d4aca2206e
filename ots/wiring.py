"""What a worker serves with, built in one place without Sanic: ``open_context`` → ``Context``.

The app factory calls ``open_context`` in each worker's start-up and
``Context.close`` at its stop; handlers read the context's typed fields
(``ots.api.context``). ``ots sweep`` builds only what a sweep needs
(``sweep_once``). Nothing here starts a task: the app starts the resident
sweeper (``ots.tasks``) and the delivery loop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tortoise.context import TortoiseContext

from ots import db, keyring
from ots.access import Gate, TokenAdmin
from ots.asking import RequestService
from ots.config import Settings
from ots.domain import Swept
from ots.events import EventLog
from ots.kdf import KdfPool, lower_priority
from ots.keyring import KeyFile
from ots.maintenance import Clock, Maintenance, Sweeping
from ots.policy import Policy
from ots.ratelimit import ClientRateLimiter
from ots.service import SecretService
from ots.ssrf import Resolver, system_resolver
from ots.store import TortoiseStore, open_store
from ots.store.requests import RequestStore
from ots.store.tokens import TokenStore
from ots.webhooks import Deliverer

log = logging.getLogger("ots.wiring")
__all__ = [
    "Clock",
    "Context",
    "open_context",
    "open_keyring",
    "sweep_once",
    "sweeping_of",
    "token_admin",
]


@dataclass(frozen=True)
class Context:
    """One worker's settings and collaborators, each built once at its start."""

    settings: Settings
    keys: KeyFile
    store: TortoiseStore
    kdf: KdfPool
    events: EventLog
    deliverer: Deliverer
    maintenance: Maintenance
    service: SecretService
    requests: RequestService
    limiter: ClientRateLimiter
    tokens: TokenStore
    gate: Gate
    # Tortoise's state for this worker, closed last.
    database: TortoiseContext

    async def close(self) -> None:
        """Erase what ended (now, not later), then stop the KDF threads and close the database."""
        await self.maintenance.close()
        self.kdf.shutdown()
        await self.store.close()
        await db.close_database(self.database)


async def open_context(
    settings: Settings,
    *,
    clock: Clock = time.time,
    resolver: Resolver = system_resolver,
    migrate: bool = False,
    sweep_on_create: bool = False,
) -> Context:
    """Open the keyring and the database, and build everything a worker serves with.

    Args:
        settings: the worker's settings.
        clock: returns epoch seconds; tests inject a fake one.
        resolver: resolves webhook hosts; tests inject a fake DNS.
        migrate: apply pending migrations first (under the migration lock).
        sweep_on_create: let creates sweep too, for a process whose resident
            sweeper may not run between requests (ASGI, serverless).
    """
    keys = open_keyring(settings.server_key_path)
    if migrate:
        await db.migrate(settings, keys.ring)
    database = await db.open_database(settings)
    store = open_store()
    kdf = KdfPool(
        threads=settings.kdf_pool_threads,
        queue=settings.kdf_queue,
        # A hash admitted must also be answered before the response times out.
        max_wait=min(settings.kdf_max_wait, settings.response_timeout),
        initializer=lower_priority,
    )
    deliverer = Deliverer(settings, store, keys, clock=clock, resolver=resolver)
    events = EventLog(client_address=settings.audit_client_address, on_queued=deliverer.wake)
    maintenance = Maintenance(store, events, sweeping_of(settings, sweep_on_create), clock=clock)
    policy = Policy.of(settings)
    rooms = RequestStore(store)
    service = SecretService(
        policy,
        store,
        kdf,
        keys,
        maintenance=maintenance,
        events=events,
        clock=clock,
        resolver=resolver,
        requests=rooms,
    )
    # The same admission as the service's: a client's creates, requests and answers
    # in flight are held in one place.
    requests = RequestService(
        policy,
        rooms,
        service.admission,
        keys,
        maintenance=maintenance,
        events=events,
        clock=clock,
    )
    limiter = ClientRateLimiter(
        settings.rate_limit, settings.rate_limit_storage, settings.rate_limit_ipv6_prefix
    )
    tokens = TokenStore(store)
    gate = Gate(settings.access_mode, settings.allowed_networks, tokens, keys, limiter, clock=clock)
    return Context(
        settings=settings,
        keys=keys,
        store=store,
        kdf=kdf,
        events=events,
        deliverer=deliverer,
        maintenance=maintenance,
        service=service,
        requests=requests,
        limiter=limiter,
        tokens=tokens,
        gate=gate,
        database=database,
    )


def sweeping_of(settings: Settings, on_create: bool = False) -> Sweeping:
    """Return how ``settings`` say to sweep (``on_create``: creates sweep too)."""
    return Sweeping(settings.sweep_batch, settings.sweep_interval, on_create)


async def sweep_once(settings: Settings) -> Swept:
    """Sweep everything due once (``ots sweep``): no keyring, no KDF, no delivery loop."""
    database = await db.open_database(settings)
    try:
        store = open_store()
        maintenance = Maintenance(store, EventLog(), sweeping_of(settings))
        try:
            return await maintenance.sweep()
        finally:
            await maintenance.close()
            await store.close()
    finally:
        await db.close_database(database)


@contextlib.asynccontextmanager
async def token_admin(settings: Settings) -> AsyncIterator[TokenAdmin]:
    """Open what ``ots tokens`` needs: the keyring and the database, and nothing else."""
    keys = open_keyring(settings.server_key_path)
    database = await db.open_database(settings)
    try:
        store = open_store()
        try:
            yield TokenAdmin(TokenStore(store), keys)
        finally:
            await store.close()
    finally:
        await db.close_database(database)


def open_keyring(path: Path) -> keyring.KeyFile:
    """Load the server keyring, creating it (and saying so once) if there is none.

    ``ots serve`` creates it before the workers start; under ASGI the first
    instance to start creates it and the others load the same file.
    """
    ring, created = keyring.ensure(path)
    if created:
        log.warning(keyring.created_message(path, ring))
    return keyring.KeyFile(path, ring)
