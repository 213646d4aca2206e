"""Per-client rate limiting on the `limits` library, with a per-process fallback.

``memory://`` counts per process; ``redis://`` makes one shared count for
every worker and replica. If Redis cannot be reached the limit still holds,
counted per process, until Redis answers again: a circuit breaker stops
asking the dead Redis (requests then pay nothing for it) and a background
probe closes the breaker once Redis is back. The service reports itself
degraded meanwhile and logs one warning per outage.

Clients are counted by address: an IPv4 address, or the IPv6 prefix
(``/64`` by default) that one subscriber usually holds in full, with
IPv4-mapped IPv6 addresses counted as the IPv4 address they carry. An
address written with a port (as proxies may forward it) counts without it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

from limits import RateLimitItem, WindowStats, parse
from limits import strategies as local_strategies
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import MemoryStorage, storage_from_string

from ots import metrics

log = logging.getLogger("ots.ratelimit")

# A LAN Redis answers in well under a millisecond; one that cannot answer in this
# time is treated as down, so it never becomes the slowest part of a request.
STORAGE_TIMEOUT: Final = 0.25
# While the breaker is open, Redis is probed (in the background) this often.
PROBE_SECONDS: Final = 2.0
# How often the per-process count drops the windows of clients that went quiet.
FORGET_SECONDS: Final = 10.0


@dataclass(frozen=True)
class Verdict:
    """The outcome of one request against the limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: int

    def headers(self) -> dict[str, str]:
        """Return the ``X-RateLimit-*`` headers that tell a client where it stands."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """Return the IP address ``text`` names, with or without a port; None if it names none.

    Accepts what proxies forward: ``198.51.100.7``, ``198.51.100.7:1001``,
    ``2001:db8::1``, ``[2001:db8::1]`` and ``[2001:db8::1]:443`` (an IPv6
    zone, meaningless to anyone else, is dropped). ``unknown``, obfuscated
    identifiers (``_hidden``), a bad port or anything else give None.
    """
    host = text.strip()
    if host.startswith("["):
        host, closed, rest = host[1:].partition("]")
        if not closed or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return None
        return _ip(host, ipaddress.IPv6Address)
    if host.count(":") == 1:
        host, _, port = host.partition(":")
        return _ip(host, ipaddress.IPv4Address) if _is_port(port) else None
    return _ip(host, None)


def _is_port(digits: str) -> bool:
    return digits.isascii() and digits.isdigit() and len(digits) <= 5 and int(digits) <= 65535


def _ip(host: str, kind: type[IPAddress] | None) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return ip if kind is None or isinstance(ip, kind) else None


def client_key(address: str, ipv6_prefix: int) -> str:
    """Return the bucket an address counts against.

    IPv4 as is; IPv4-mapped IPv6 as its IPv4; other IPv6 as its
    ``ipv6_prefix`` network, so one subscriber cannot spread requests over
    the 2^64 addresses of its /64; an address with a port as the address.
    Anything else (a Unix socket) as given: only the TCP peer reaches here
    unparsed, a forwarded value that names no address never does.
    """
    return _client_key(address, ipv6_prefix)


# Every request asks for its client's bucket, once or twice, and parsing an address
# costs microseconds: the busy clients' answers are kept. Bounded, so that a client
# spreading its requests over many addresses only evicts (and pays the parse again).
@functools.lru_cache(maxsize=4096)
def _client_key(address: str, ipv6_prefix: int) -> str:
    ip = parse_address(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


class WindowMemory(MemoryStorage):
    """limits' per-process memory storage, with a moving window that costs the same for every hit.

    limits' own keeps a window's hits newest first in a list and inserts each
    new one at the front, which moves every entry (a busy client under a
    generous limit holds tens of thousands), and it prunes from a timer thread
    started anew every 10 ms while requests come. Here a window is a queue,
    oldest first: a hit appends, expired hits leave from the front as the
    window moves, and the windows of clients that went quiet are dropped on
    a later hit, at most every ``FORGET_SECONDS``, on the caller's thread. The
    counting is the same: a hit is refused when ``limit`` hits lie within the
    last ``expiry`` seconds. Fixed windows (``incr``) are limits' own.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Count on ``clock`` (epoch seconds, as limits' own storages do)."""
        super().__init__()
        self._clock = clock
        # Each key's window, with the period it was last counted over.
        self._windows: dict[str, tuple[int, deque[float]]] = {}
        self._forget_at = 0.0

    @property
    def clients(self) -> int:
        """Return how many keys have a moving window kept in memory."""
        return len(self._windows)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Count ``amount`` hits for ``key``, unless that passes ``limit`` within ``expiry`` s."""
        if amount > limit:
            return False
        now = self._clock()
        window = self._window(key, expiry, now)
        if len(window) + amount > limit:
            return False
        window.extend([now] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return when the oldest hit still in ``key``'s window was counted, and how many are."""
        del limit
        now = self._clock()
        window = self._window(key, expiry, now)
        return (window[0], len(window)) if window else (now, 0)

    def clear(self, key: str) -> None:
        """Forget ``key``'s counts, moving window included."""
        super().clear(key)
        self._windows.pop(key, None)

    def reset(self) -> int | None:
        """Forget every count."""
        self._windows.clear()
        return super().reset()

    def _window(self, key: str, expiry: int, now: float) -> deque[float]:
        if now >= self._forget_at:
            self._forget_at = now + FORGET_SECONDS
            # Each key by its own period: one storage holds limits of a minute and of an hour.
            quiet = [
                k for k, (own, hits) in self._windows.items() if not hits or hits[-1] < now - own
            ]
            for gone in quiet:
                del self._windows[gone]
        _, window = self._windows.setdefault(key, (expiry, deque()))
        self._windows[key] = (expiry, window)
        since = now - expiry
        while window and window[0] < since:
            window.popleft()
        return window


def _storage(uri: str) -> Storage:
    scheme, _, rest = uri.partition("://")
    return cast(Storage, storage_from_string(f"async+{scheme.removeprefix('async+')}://{rest}"))


class ClientRateLimiter:
    """Counts requests per client in a moving window, shared through Redis when it can."""

    def __init__(
        self,
        rate: str,
        storage_uri: str,
        ipv6_prefix: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Build the limiter for ``rate`` (e.g. ``600/minute``) on ``storage_uri``."""
        self._item: RateLimitItem = parse(rate)
        self._ipv6_prefix = ipv6_prefix
        self._clock = clock
        # The per-process count is synchronous: limits' async memory storage hands
        # every expiry pass to a thread, a hop per request.
        self._local = local_strategies.MovingWindowRateLimiter(WindowMemory())
        self._shared: MovingWindowRateLimiter | None = None
        if not storage_uri.split("://", 1)[0].endswith("memory"):
            self._shared = MovingWindowRateLimiter(_storage(storage_uri))
        self._probe_at = 0.0
        self._probe: asyncio.Task[None] | None = None
        self.degraded = False

    @property
    def window(self) -> int:
        """Return the window's length in seconds."""
        return int(self._item.get_expiry())

    async def hit(
        self, address: str, item: RateLimitItem | None = None, *, kind: str = ""
    ) -> Verdict:
        """Count one request from ``address``; return where that client stands.

        ``item`` is another limit than the instance's (a token's own, or the
        failed authentications'), counted apart under ``kind`` (a key prefix):
        the same client's counts for different purposes never mix.
        """
        return await self._apply(address, item or self._item, kind, count=True)

    def bucket(self, address: str) -> str:
        """Return the bucket ``address`` counts in (its IPv6 prefix, or the IPv4 address)."""
        return client_key(address, self._ipv6_prefix)

    async def stands(self, address: str, item: RateLimitItem, *, kind: str = "") -> Verdict:
        """Return where ``address`` stands against ``item`` (under ``kind``), counting nothing."""
        return await self._apply(address, item, kind, count=False)

    async def _apply(self, address: str, item: RateLimitItem, kind: str, *, count: bool) -> Verdict:
        key = kind + client_key(address, self._ipv6_prefix)
        if self._shared is not None and not self.degraded:
            try:
                return await asyncio.wait_for(
                    self._count(self._shared, item, key, count), STORAGE_TIMEOUT
                )
            except Exception as exc:
                self._trip(exc)
        if self.degraded:
            self._maybe_probe()
        allowed = self._local.hit(item, key) if count else self._local.test(item, key)
        return self._verdict(item, allowed, self._local.get_window_stats(item, key))

    async def _count(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, key: str, count: bool
    ) -> Verdict:
        allowed = await (limiter.hit(item, key) if count else limiter.test(item, key))
        return self._verdict(item, allowed, await limiter.get_window_stats(item, key))

    def _verdict(self, item: RateLimitItem, allowed: bool, stats: WindowStats) -> Verdict:
        return Verdict(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_at=int(stats.reset_time) + 1,
        )

    def _trip(self, exc: Exception) -> None:
        if not self.degraded:
            log.warning(
                "rate limiter storage unreachable (%s); counting per process until it is back",
                type(exc).__name__,
            )
            self.degraded = True
            metrics.RATE_LIMITER_DEGRADED.set(1)
            self._probe_at = self._clock() + PROBE_SECONDS

    def _maybe_probe(self) -> None:
        # One probe at a time, in the background: no request waits for a dead Redis.
        if self._shared is None or self._clock() < self._probe_at:
            return
        if self._probe is not None and not self._probe.done():
            return
        self._probe_at = self._clock() + PROBE_SECONDS
        storage = self._shared.storage
        self._probe = asyncio.get_running_loop().create_task(self._check_shared(storage))

    async def probed(self) -> None:
        """Wait until the background probe under way, if any, has its answer."""
        if self._probe is not None:
            await self._probe

    async def _check_shared(self, storage: Storage) -> None:
        try:
            healthy = await asyncio.wait_for(storage.check(), STORAGE_TIMEOUT)
        except Exception:
            healthy = False
        if healthy:
            log.warning("rate limiter storage reachable again; the shared limit applies")
            self.degraded = False
            metrics.RATE_LIMITER_DEGRADED.set(0)
