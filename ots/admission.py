"""Admission: every check a write that stores runs before it costs anything.

The instance's storage (OTS_MAX_LIVE_SECRETS, OTS_MAX_STORED_BYTES), the
TTL bounds and size, the KDF's queue, a webhook's target, and one client's
share (OTS_CLIENT_SHARE) or token quota, held in flight in this worker
until the write is stored or failed. Creates, requests and answers all pass
here, so each rule is decided once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Final

from ots import crypto, metrics
from ots.domain import ClientTotals, StoredRequest, Subscription
from ots.errors import FieldProblem, PayloadTooLargeError, StorageFullError, ValidationFailedError
from ots.kdf import KdfPool
from ots.keyring import KeyFile
from ots.maintenance import Clock, Maintenance
from ots.policy import Policy
from ots.quota import ClientShares
from ots.ssrf import RefusedTargetError, Resolver, resolve_target, system_resolver
from ots.tokens import Token

# Secrets leave by being read, burned or expiring; a minute is a fair time to wait.
QUOTA_RETRY_AFTER: Final = 60
# The 507 of a client whose share (OTS_CLIENT_SHARE) is used; the others still create.
CLIENT_SHARE_USED: Final = (
    "You have stored as much as one client may; retry once some of your secrets "
    "are read, burned or expired."
)
ASKERS_SHARE_USED: Final = "The asker has stored as much as one client may; retry later."


class Admission:
    """The checks of every storing write, over the worker's usage estimate and shares."""

    def __init__(
        self,
        policy: Policy,
        kdf: KdfPool,
        keys: KeyFile,
        maintenance: Maintenance,
        shares: ClientShares,
        *,
        clock: Clock = time.time,
        resolver: Resolver = system_resolver,
    ) -> None:
        """Check against ``policy``, the KDF's queue, the keyring's quota tags and the usage."""
        self._policy = policy
        self._kdf = kdf
        self._keys = keys
        self._maintenance = maintenance
        self._shares = shares
        self._clock = clock
        self._resolver = resolver

    async def admit(
        self,
        ttl: int | None,
        size: int,
        too_large: str,
        notify: Subscription | None,
        *,
        hashes: bool,
        new_secrets: int = 1,
    ) -> int:
        """Check a write before any costly work (refusing must stay cheap); return its ttl.

        ``size`` is the plaintext's bytes, refused with ``too_large``;
        ``hashes``: it will queue a KDF hash; ``new_secrets`` 0: an answer,
        whose open request already holds its place among the live secrets.

        Raises:
            ValidationFailedError: ``ttl`` out of bounds, or ``notify`` refused.
            PayloadTooLargeError: over ``max_secret_bytes``.
            OverloadedError: the KDF's queue is full.
            StorageFullError: the instance's live secrets or bytes are used.
        """
        policy = self._policy
        ttl = policy.default_ttl if ttl is None else ttl
        if not policy.min_ttl <= ttl <= policy.max_ttl:
            raise ValidationFailedError(
                [
                    FieldProblem(
                        "ttl", f"must be between {policy.min_ttl} and {policy.max_ttl} seconds"
                    )
                ]
            )
        if size > policy.max_secret_bytes:
            raise PayloadTooLargeError(too_large)
        if notify is not None:
            await self.check_subscription(notify)
        if hashes:
            self._kdf.check()
        usage = await self._maintenance.usage()
        if (
            usage.live_secrets + new_secrets > policy.max_live_secrets
            or usage.stored_bytes + size > policy.max_stored_bytes
        ):
            raise StorageFullError(retry_after=QUOTA_RETRY_AFTER)
        return ttl

    @contextlib.asynccontextmanager
    async def client_share(
        self, quota_key: str | None, size: int, token: Token | None
    ) -> AsyncIterator[str | None]:
        """Hold one live secret of ``size`` bytes in the client's share until the block ends.

        A token's creates count as the token's, wherever they come from, and
        against its own byte quota too. Yields the quota tag to store with
        the row (None: nobody's, and nothing to count).

        Raises:
            StorageFullError: the client's share or the token's quota is used.
        """
        own_bytes = None if token is None else token.limits.max_bytes
        if token is not None:
            quota_key = token.quota_key
        if quota_key is None or (self._policy.max_client_secrets == 0 and own_bytes is None):
            yield None
            return
        # Under every key of the ring: a rotation must not forgive what was stored before it.
        tags = [crypto.quota_tag(quota_key, key.secret) for key in self._keys.ring.keys]
        # Held under the newest tag, as the row will be stored: an answer to one of this
        # client's requests is held under its tag too, so the two see each other.
        async with self._holding_share(
            tags, size, own_bytes, new_secrets=1, refusal=CLIENT_SHARE_USED
        ):
            # The newest key's tag: the one every later count of this client asks for.
            yield tags[-1]

    def askers_share(self, found: StoredRequest, size: int) -> AbstractAsyncContextManager[None]:
        """Hold an answer's ``size`` bytes in its asker's share (and token quota).

        Counted under the tag the request keeps: the asker's quota key itself
        is never stored. It takes no new place: the open request held one
        since it was made. Entering raises ``StorageFullError`` when full.
        """
        if found.quota_tag is None:
            return contextlib.nullcontext()
        return self._holding_share(
            [found.quota_tag],
            size,
            found.max_bytes,
            new_secrets=0,
            refusal=ASKERS_SHARE_USED,
            whose="The asker's token",
        )

    @contextlib.asynccontextmanager
    async def _holding_share(
        self,
        tags: Sequence[str],
        size: int,
        own_bytes: int | None,
        *,
        new_secrets: int,
        refusal: str,
        whose: str = "This token's",
    ) -> AsyncIterator[None]:
        # The one admission of a client's share and token quota, for creates and answers:
        # the rows are stored under ``tags``; ``new_secrets`` places and ``size`` bytes
        # are asked for, and held in this worker under the newest tag until the block
        # ends. ``refusal`` says why when the share is used.
        holder = tags[-1]
        policy = self._policy

        def within_share(held: ClientTotals) -> bool:
            return policy.max_client_secrets == 0 or (
                (new_secrets == 0 or held.live_secrets + new_secrets <= policy.max_client_secrets)
                and held.ciphertext_bytes + size <= policy.max_client_bytes
            )

        def within_own(held: ClientTotals) -> bool:
            return own_bytes is None or held.ciphertext_bytes + size <= own_bytes

        everyone = await self._maintenance.usage()
        held = await self._shares.used(
            holder, tags, int(self._clock()), everyone, lambda h: within_share(h) and within_own(h)
        )
        if not within_own(held):
            metrics.CREATE_REFUSED.labels("token_quota").inc()
            raise StorageFullError(
                f"{whose} quota of {own_bytes} bytes of live secrets is used; "
                "retry once some are read or expire.",
                retry_after=QUOTA_RETRY_AFTER,
            )
        if not within_share(held):
            metrics.CLIENT_SHARE_REFUSED.inc()
            raise StorageFullError(refusal, retry_after=QUOTA_RETRY_AFTER)
        with self._shares.holding(holder, size, secrets=new_secrets):
            yield

    async def check_subscription(self, notify: Subscription) -> None:
        """Refuse a webhook when webhooks are off or its target is refused (422).

        Raises:
            ValidationFailedError: naming ``notify`` or ``notify.url``.
        """
        policy = self._policy
        if not policy.webhooks:
            raise ValidationFailedError(
                [FieldProblem("notify", "webhooks are turned off on this server (OTS_WEBHOOKS)")]
            )
        try:
            # Resolved now too, so that a refused address is a clear 422 at once; the
            # delivery loop checks again before every send (DNS can change).
            await resolve_target(
                notify.url,
                allow_http=policy.webhook_allow_http,
                allow_private=policy.webhook_allow_private,
                resolver=self._resolver,
            )
        except RefusedTargetError as exc:
            raise ValidationFailedError([FieldProblem("notify.url", str(exc))]) from None
