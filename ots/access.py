"""Who may create: the gate every create passes, and the management of API tokens.

``Gate.admit`` decides, from the ``Authorization`` header and the client's
address, whether a create may go ahead, and whom it counts against:

- a request that carries any ``Authorization`` must carry a good token
  (``Bearer ots_…``, active), on every instance, even an open one: a wrong
  token is never silently ignored (401);
- without one, ``OTS_CREATE_ACCESS`` decides: ``open`` lets everyone in;
  ``network`` and ``token_or_network`` let in the addresses of
  ``OTS_CREATE_NETWORKS``; ``token`` and ``token_or_network`` ask the others
  for a token (401); ``network`` refuses them (403);
- in ``network`` mode a token does not stand in for the network.

Failed authentications are counted per client (as the rate limit counts
addresses); past ``AUTH_FAILURES`` the client gets 429 before its token is
even looked at, so tokens cannot be guessed online. A token's own rate limit
is counted per token, on top of the address's. Reading, checking, receipts
and burning by receipt never come here: the link is the capability.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from limits import parse as parse_rate_limit

from ots import crypto, metrics
from ots.errors import ForbiddenError, RateLimitedError, UnauthorizedError
from ots.keyring import KeyFile
from ots.ratelimit import ClientRateLimiter
from ots.store.tokens import TokenStore
from ots.tokens import (
    AccessMode,
    IssuedToken,
    Network,
    NewToken,
    Token,
    TokenLimits,
    TokenState,
    bearer_token,
    in_networks,
    is_bearer,
    parse_token,
    token_text,
)

# Failed authentications one client may make; past it, 429 until the window moves on.
AUTH_FAILURES: Final = parse_rate_limit("10/minute")
# The rate limiter's key prefixes: failed authentications per client, creates per token.
AUTH_KIND: Final = "auth:"
TOKEN_KIND: Final = "token:"  # noqa: S105 - a key prefix
# How stale a token's last_used_at may get: one write per token per hour at most.
LAST_USED_EVERY: Final = 3600
# The sentences of the answers: they say what to do, and never which check failed.
NEEDS_TOKEN: Final = "Creating secrets on this server needs an API token (Authorization: Bearer)."  # noqa: S105
HOLDERS_ONLY: Final = "This endpoint is for API token holders (Authorization: Bearer)."
BAD_TOKEN: Final = "The API token is not valid: unknown, revoked or expired."  # noqa: S105
NOT_FROM_HERE: Final = "Secrets cannot be created from this network."


@dataclass(frozen=True)
class Creator:
    """Who a create counts against: a client's quota key, and the token it showed."""

    quota_key: str
    token: Token | None = None


class Gate:
    """Decides whether a create may go ahead (see the module's rules)."""

    def __init__(
        self,
        mode: AccessMode,
        networks: tuple[Network, ...],
        tokens: TokenStore,
        keys: KeyFile,
        limiter: ClientRateLimiter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Apply ``mode`` with ``networks``; look tokens up in ``tokens`` under ``keys``."""
        self._mode = mode
        self._networks = networks
        self._tokens = tokens
        self._keys = keys
        self._limiter = limiter
        self._clock = clock
        # Authentications under way in this worker, per client bucket.
        self._checking: dict[str, int] = {}

    @property
    def mode(self) -> AccessMode:
        """The instance's access mode."""
        return self._mode

    async def admit(self, authorization: str | None, address: str, quota_key: str) -> Creator:
        """Let a create from ``address`` go ahead, or refuse it.

        Args:
            authorization: the request's ``Authorization`` header, if any (a scheme
                other than Bearer, a proxy's password, is no token: the mode decides).
            address: the client's address, as the rate limit counts it.
            quota_key: what the create counts against without a token.

        Raises:
            UnauthorizedError: a token is needed and missing, or the one sent is not good.
            ForbiddenError: the address is outside ``OTS_CREATE_NETWORKS`` (network mode).
            RateLimitedError: too many failed authentications from this client, or the
                token's own rate limit is used.
        """
        if authorization is not None and is_bearer(authorization):
            token = await self.authenticate(authorization, address)
            if self._mode is AccessMode.NETWORK:
                self._require_network(address)
            await self._count_token(token)
            return Creator(token.quota_key, token)
        if self._mode is AccessMode.OPEN:
            return Creator(quota_key)
        if self._mode.takes_networks and in_networks(address, self._networks):
            return Creator(quota_key)
        if self._mode is AccessMode.NETWORK:
            metrics.CREATE_REFUSED.labels("forbidden").inc()
            raise ForbiddenError(NOT_FROM_HERE)
        metrics.CREATE_REFUSED.labels("unauthorized").inc()
        raise UnauthorizedError(NEEDS_TOKEN)

    async def authenticate(self, authorization: str, address: str) -> Token:
        """Return the active token ``authorization`` carries.

        Raises:
            UnauthorizedError: it carries none, or one that is unknown, revoked or expired.
            RateLimitedError: this client failed too often lately.
        """
        bucket = self._limiter.bucket(address)
        failures = await self._limiter.stands(address, AUTH_FAILURES, kind=AUTH_KIND)
        # This worker's checks under way count as failures until they are not: a burst
        # of guesses sent together cannot all pass the count before the first is added.
        checking = self._checking.get(bucket, 0)
        if not failures.allowed or failures.remaining <= checking:
            metrics.CREATE_REFUSED.labels("auth_rate_limited").inc()
            raise RateLimitedError(
                "Too many failed authentications; retry later.",
                retry_after=self._wait(failures.reset_at, AUTH_FAILURES.get_expiry()),
                headers=failures.headers(),
            )
        self._checking[bucket] = checking + 1
        try:
            token = await self._find(authorization)
            now = int(self._clock())
            if token is None or token.state(now) is not TokenState.ACTIVE:
                await self._limiter.hit(address, AUTH_FAILURES, kind=AUTH_KIND)
                metrics.CREATE_REFUSED.labels("unauthorized").inc()
                raise UnauthorizedError(BAD_TOKEN)
        finally:
            left = self._checking[bucket] - 1
            if left:
                self._checking[bucket] = left
            else:
                del self._checking[bucket]
        if token.last_used_at is None or token.last_used_at < now - LAST_USED_EVERY:
            await self._tokens.touch(token.id, now, LAST_USED_EVERY)
        return token

    async def _find(self, authorization: str) -> Token | None:
        # The token the header names, if its random part matches the stored digest.
        text = bearer_token(authorization)
        parsed = None if text is None else parse_token(text)
        if parsed is None:
            return None
        token_id, token_secret = parsed
        token = await self._tokens.find(token_id)
        # Its key may have been removed from the ring (ots keys remove): the token went
        # with it. The digest is computed whatever is found, so that an unknown id takes
        # as long as a wrong random part.
        server_key = None if token is None else self._keys.find(token.key_id)
        computed = crypto.token_digest(token_secret, server_key or self._keys.newest.secret)
        if token is None or server_key is None:
            return None
        return token if crypto.digests_match(token.digest, computed) else None

    def _require_network(self, address: str) -> None:
        if not in_networks(address, self._networks):
            metrics.CREATE_REFUSED.labels("forbidden").inc()
            raise ForbiddenError(NOT_FROM_HERE)

    async def _count_token(self, token: Token) -> None:
        # The token's own rate limit, on top of the address's (counted already).
        if token.limits.rate_limit is None:
            return
        item = parse_rate_limit(token.limits.rate_limit)
        verdict = await self._limiter.hit(str(token.id), item, kind=TOKEN_KIND)
        if not verdict.allowed:
            metrics.CREATE_REFUSED.labels("token_rate_limited").inc()
            raise RateLimitedError(
                f"This token may create {token.limits.rate_limit}; retry later.",
                retry_after=self._wait(verdict.reset_at, item.get_expiry()),
                headers=verdict.headers(),
            )

    def _wait(self, reset_at: int, window: int) -> int:
        # Rounded up, but a slot frees within one window at the latest.
        return min(window, max(1, math.ceil(reset_at - self._clock())))


class TokenAdmin:
    """What ``ots tokens`` does: add, list and revoke tokens."""

    def __init__(
        self, tokens: TokenStore, keys: KeyFile, clock: Callable[[], float] = time.time
    ) -> None:
        """Keep tokens in ``tokens``, their digests under the newest key of ``keys``."""
        self._tokens = tokens
        self._keys = keys
        self._clock = clock

    async def add(self, name: str, expires_in: int | None, limits: TokenLimits) -> IssuedToken:
        """Make a token; its text is returned here, once, and stored nowhere."""
        now = int(self._clock())
        secret = crypto.new_token_secret()
        server_key = self._keys.newest
        token = await self._tokens.add(
            NewToken(
                name=name,
                key_id=server_key.id,
                digest=crypto.token_digest(secret, server_key.secret),
                created_at=now,
                expires_at=None if expires_in is None else now + expires_in,
                limits=limits,
            )
        )
        return IssuedToken(token, token_text(token.id, secret))

    async def all(self) -> list[Token]:
        """Return every token, oldest first (never a token's text: it is not kept)."""
        return await self._tokens.all()

    async def revoke(self, token_id: int) -> bool:
        """Revoke a token for good; False if there is no such token or it was revoked."""
        return await self._tokens.revoke(token_id, int(self._clock()))

    def now(self) -> int:
        """Return the current time in whole epoch seconds."""
        return int(self._clock())

    def has_key(self, token: Token) -> bool:
        """Tell whether the server key ``token`` was made under is still in the ring."""
        return self._keys.find(token.key_id) is not None
