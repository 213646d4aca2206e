"""ssrf: which addresses a webhook may reach, the same on every Python patch level."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from ots.ssrf import RefusedTargetError, is_forbidden, resolve_target

# Python before 3.11.9 / 3.12.4 calls most of the IPv6 forms here global.
REFUSED = {
    "nat64-private": "64:ff9b::10.0.0.1",
    "nat64-loopback": "64:ff9b::127.0.0.1",
    "nat64-metadata": "64:ff9b::169.254.169.254",
    "nat64-shared": "64:ff9b::100.64.0.1",
    "nat64-local-use-public": "64:ff9b:1::808:808",
    "nat64-local-use-private": "64:ff9b:1:a00:1::",
    "ipv4-compatible-public": "::8.8.8.8",
    "ipv4-compatible-private": "::10.0.0.1",
    "siit-public": "::ffff:0:8.8.8.8",
    "siit-private": "::ffff:0:10.0.0.1",
    "6to4-public": "2002:808:808::1",
    "6to4-private": "2002:a00:1::1",
    "6to4-metadata": "2002:a9fe:a9fe::1",
    "site-local": "fec0::1",
    "site-local-top": "feff:ffff::1",
    "mapped-private": "::ffff:10.0.0.1",
    "mapped-ietf-protocol": "::ffff:192.0.0.100",
    "nat64-ietf-protocol": "64:ff9b::192.0.0.100",
    "ietf-protocol": "192.0.0.100",
    "6to4-relay-anycast": "192.88.99.1",
    "teredo": "2001::1",
    "unique-local-metadata": "fd00:ec2::254",
    "documentation-v6": "2001:db8::1",
    "documentation-3fff": "3fff::1",
    "srv6": "5f00::1",
    "reserved-v6": "4000::1",
    "discard-only": "100::1",
    "loopback-v6": "::1",
    "unspecified-v6": "::",
    "link-local-v6": "fe80::1",
    "multicast-v6": "ff02::1",
    "loopback": "127.0.0.1",
    "private": "10.1.2.3",
    "shared": "100.64.0.1",
    "metadata": "169.254.169.254",
    "multicast": "224.0.0.1",
    "broadcast": "255.255.255.255",
}
ALLOWED = {
    "public-v4": "93.184.216.34",
    "public-v6": "2606:4700:4700::1111",
    "nat64-public": "64:ff9b::93.184.216.34",
    "mapped-public": "::ffff:93.184.216.34",
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_refused_addresses(address: str) -> None:
    """Not public, directly or through the IPv4 address an IPv6 form embeds: refused."""
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED.values(), ids=ALLOWED.keys())
def test_public_addresses_pass(address: str) -> None:
    """Public addresses, and NAT64 or IPv4-mapped forms of a public IPv4 address, pass."""
    assert not is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_address_as_a_literal_host_is_refused(address: str) -> None:
    """The URL's host written as the address itself is refused as a resolved one."""
    host = f"[{address}]" if ":" in address else address
    check = resolve_target(f"https://{host}/hook", allow_http=False, allow_private=False)
    with pytest.raises(RefusedTargetError, match="not public"):
        asyncio.run(check)
