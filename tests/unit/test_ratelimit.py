"""Rate-limit buckets per client, and the fallback when the shared storage is away."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import parse
from limits.strategies import MovingWindowRateLimiter

from ots.ratelimit import (
    FORGET_SECONDS,
    PROBE_SECONDS,
    ClientRateLimiter,
    WindowMemory,
    client_key,
    parse_address,
)
from tests.support import REDIS_URL, FakeClock, free_port, needs_redis

BUCKETS = {
    "ipv4": ("192.0.2.7", 64, "192.0.2.7"),
    "ipv4-mapped": ("::ffff:192.0.2.7", 64, "192.0.2.7"),
    "ipv6-host-in-its-64": ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
    "ipv6-other-host-same-64": ("2001:db8:1:2::1", 64, "2001:db8:1:2::/64"),
    "ipv6-bracketed": ("[2001:db8:1:2::1]", 64, "2001:db8:1:2::/64"),
    "ipv6-prefix-48": ("2001:db8:1:2::1", 48, "2001:db8:1::/48"),
    "ipv6-prefix-128": ("2001:db8::5", 128, "2001:db8::5/128"),
    "loopback-v6": ("::1", 64, "::/64"),
    "not-an-address": ("unix-socket", 64, "unix-socket"),
    "ipv4-with-port": ("192.0.2.7:1001", 64, "192.0.2.7"),
    "ipv6-with-port": ("[2001:db8:1:2::1]:443", 64, "2001:db8:1:2::/64"),
    "ipv4-mapped-with-port": ("[::ffff:192.0.2.7]:80", 64, "192.0.2.7"),
}


@pytest.mark.parametrize(("address", "prefix", "bucket"), BUCKETS.values(), ids=BUCKETS.keys())
def test_client_buckets(address: str, prefix: int, bucket: str) -> None:
    """IPv4 as is, IPv4-mapped as IPv4, IPv6 by its prefix (a /64 is one subscriber)."""
    assert client_key(address, prefix) == bucket


ADDRESSES = {
    "ipv4": ("198.51.100.7", "198.51.100.7"),
    "ipv4-port": ("198.51.100.7:1001", "198.51.100.7"),
    "ipv4-port-max": ("198.51.100.7:65535", "198.51.100.7"),
    "ipv4-spaces": (" 198.51.100.7 ", "198.51.100.7"),
    "ipv6": ("2001:db8::1", "2001:db8::1"),
    "ipv6-bracketed": ("[2001:db8::1]", "2001:db8::1"),
    "ipv6-port": ("[2001:db8::1]:443", "2001:db8::1"),
    "ipv6-zone": ("fe80::1%eth0", "fe80::1"),
    "ipv6-zone-port": ("[fe80::1%eth0]:443", "fe80::1"),
    "ipv4-mapped-port": ("[::ffff:198.51.100.7]:1", "::ffff:c633:6407"),
    "unknown": ("unknown", None),
    "obfuscated": ("_hidden", None),
    "garbage": ("garbage", None),
    "empty": ("", None),
    "port-too-big": ("198.51.100.7:65536", None),
    "port-empty": ("198.51.100.7:", None),
    "port-not-digits": ("198.51.100.7:http", None),
    "port-non-ascii-digits": ("198.51.100.7:\u0663", None),
    "two-ports": ("198.51.100.7:1:2", None),
    "ipv6-unclosed": ("[2001:db8::1", None),
    "ipv6-junk-after-bracket": ("[2001:db8::1]x443", None),
    "ipv6-empty-port": ("[2001:db8::1]:", None),
    "ipv4-in-brackets": ("[198.51.100.7]", None),
    "ipv4-five-parts": ("1.2.3.4.5", None),
    "ipv4-leading-zero": ("01.2.3.4", None),
    "hostname-port": ("example.com:80", None),
}


@pytest.mark.parametrize(("text", "address"), ADDRESSES.values(), ids=ADDRESSES.keys())
def test_forwarded_values_are_parsed_to_their_address(text: str, address: str | None) -> None:
    """A port (and an IPv6 zone) is dropped; anything that names no address gives None."""
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


def test_ipv6_addresses_of_one_64_share_one_limit() -> None:
    """A client cannot dodge the limit by rotating through its /64."""

    async def main() -> list[bool]:
        limiter = ClientRateLimiter("3/minute", "memory://")
        return [(await limiter.hit(f"2001:db8:1:2::{i:x}")).allowed for i in range(1, 6)] + [
            (await limiter.hit("2001:db8:1:3::1")).allowed
        ]

    assert asyncio.run(main()) == [True, True, True, False, False, True]


def test_the_moving_window_counts_the_last_period_and_frees_a_slot_as_each_hit_ages() -> None:
    """Three a minute: the fourth waits for the first hit to leave the window, not for a new one."""
    clock = FakeClock(1000.0)
    limiter = MovingWindowRateLimiter(WindowMemory(clock))
    item = parse("3/minute")
    seen = []
    for step in (0, 10, 10, 10):  # hits at 1000, 1010, 1020; refused at 1030
        clock.advance(step)
        seen.append(limiter.hit(item, "client"))
    stats = limiter.get_window_stats(item, "client")
    assert seen == [True, True, True, False]
    assert (stats.reset_time, stats.remaining) == (1060.0, 0)
    clock.advance(30)  # 1060: the hit of 1000 is a minute old, and still counts
    assert not limiter.hit(item, "client")
    clock.advance(1)  # 1061: it has left the window; those of 1010 and 1020 have not
    assert limiter.hit(item, "client")
    assert not limiter.hit(item, "client")
    assert limiter.hit(item, "other client")


def test_a_hit_of_several_is_refused_whole_and_counts_nothing() -> None:
    """A cost that does not fit is refused without taking the slots that are left."""
    limiter = MovingWindowRateLimiter(WindowMemory(FakeClock()))
    item = parse("3/minute")
    assert limiter.hit(item, "client", cost=2)
    assert not limiter.hit(item, "client", cost=2)
    assert not limiter.hit(item, "client", cost=4)
    assert limiter.hit(item, "client")
    assert limiter.get_window_stats(item, "client").remaining == 0


def test_the_windows_of_quiet_clients_are_forgotten() -> None:
    """Memory follows the clients active in the last window, not every client ever seen."""
    clock = FakeClock()
    storage = WindowMemory(clock)
    limiter = MovingWindowRateLimiter(storage)
    item = parse("5/second")
    for client in range(100):
        limiter.hit(item, f"client {client}")
    assert storage.clients == 100
    clock.advance(FORGET_SECONDS)
    limiter.hit(item, "client 0")
    assert storage.clients == 1
    storage.clear(item.key_for("client 0"))
    assert storage.clients == 0
    limiter.hit(item, "client 1")
    storage.reset()
    assert storage.clients == 0


def test_a_longer_window_is_not_forgotten_by_hits_on_a_shorter_one() -> None:
    """An hourly limit keeps its count while a per-minute limit of the same storage is hit."""
    clock = FakeClock()
    limiter = MovingWindowRateLimiter(WindowMemory(clock))
    hourly, minutely = parse("2/hour"), parse("600/minute")
    assert limiter.hit(hourly, "token")
    assert limiter.hit(hourly, "token")
    clock.advance(FORGET_SECONDS + 120)  # quiet for longer than a minute, not an hour
    assert limiter.hit(minutely, "client")
    assert not limiter.hit(hourly, "token")


@pytest.mark.parametrize("storage", ["memory://", pytest.param(REDIS_URL, marks=needs_redis)])
def test_other_limits_count_apart_and_a_look_counts_nothing(storage: str) -> None:
    """A second limit under its own kind never mixes with the instance's; ``stands`` only looks."""
    other = parse("2/minute")
    # A /64 of its own: Redis keeps the counts of earlier runs for a minute.
    address = str(ipaddress.IPv6Address(uuid.uuid4().int & ~((1 << 64) - 1)))

    async def main() -> list[bool]:
        limiter = ClientRateLimiter("2/minute", storage)
        seen = [(await limiter.hit(address)).allowed for _ in range(3)]
        seen += [(await limiter.stands(address, other, kind="t:")).allowed for _ in range(5)]
        seen += [(await limiter.hit(address, other, kind="t:")).allowed for _ in range(3)]
        verdict = await limiter.stands(address, other, kind="t:")
        return [*seen, verdict.allowed, verdict.limit == 2]

    instance, looks, counted = [True, True, False], [True] * 5, [True, True, False]
    assert asyncio.run(main()) == [*instance, *looks, *counted, False, True]


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[list[int]]:
    """A TCP server that accepts connections and never answers; yields its connection count."""
    accepted: list[int] = []
    held: list[asyncio.StreamWriter] = []

    async def swallow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        held.append(writer)

    port = free_port()
    server = await asyncio.start_server(swallow, "127.0.0.1", port)
    accepted.append(port)  # the first entry is the port, not a connection
    try:
        yield accepted
    finally:
        for writer in held:
            writer.transport.abort()
        server.close()


def test_redis_down_falls_back_to_a_per_process_limit() -> None:
    """With Redis refusing connections the limit still holds, counted in this process."""

    async def main() -> tuple[list[bool], bool]:
        limiter = ClientRateLimiter("3/minute", f"redis://127.0.0.1:{free_port()}/0")
        allowed = [(await limiter.hit("192.0.2.7")).allowed for _ in range(5)]
        return allowed, limiter.degraded

    allowed, degraded = asyncio.run(main())
    assert allowed == [True, True, True, False, False]
    assert degraded


def test_black_holed_redis_is_asked_once_then_probed_in_the_background() -> None:
    """After the first timeout no request waits for Redis; a probe retries every few seconds."""
    clock = FakeClock()

    async def main() -> tuple[int, int, int, bool]:
        async with black_hole() as seen:
            port = seen[0]
            limiter = ClientRateLimiter("100/minute", f"redis://127.0.0.1:{port}/0", clock=clock)
            await limiter.hit("192.0.2.7")  # the one request that pays the timeout
            tripped = len(seen) - 1
            for _ in range(50):
                await limiter.hit("192.0.2.7")
            after_fifty = len(seen) - 1
            clock.advance(PROBE_SECONDS)
            await limiter.hit("192.0.2.7")
            await limiter.probed()  # the background probe connected, and timed out
            return tripped, after_fifty, len(seen) - 1, limiter.degraded

    tripped, after_fifty, after_probe, degraded = asyncio.run(main())
    assert tripped >= 1
    assert after_fifty == tripped, "requests kept asking the dead Redis"
    assert after_probe >= after_fifty  # the probe may reuse a pooled connection
    assert degraded, "a probe that got no answer keeps the breaker open"


@needs_redis
def test_redis_back_closes_the_breaker() -> None:
    """Once Redis answers a probe, the shared limit applies again and degraded clears."""
    clock = FakeClock()

    async def main() -> tuple[bool, bool]:
        limiter = ClientRateLimiter("100/minute", REDIS_URL, clock=clock)
        limiter._trip(ConnectionError())  # as if Redis had just failed
        was = limiter.degraded
        clock.advance(PROBE_SECONDS)
        await limiter.hit("192.0.2.7")
        await limiter.probed()
        return was, limiter.degraded

    assert asyncio.run(main()) == (True, False)
