"""Where a webhook may go: the SSRF guard.

A webhook URL is chosen by whoever creates a secret, and the server then
sends requests to it: without a guard, anyone could make ots probe its own
network (a database port, a cloud metadata service at 169.254.169.254). So a
URL must be ``https`` (unless the operator allows ``http``), and every
address its host resolves to must be public (unless the operator allows
private ones). The check runs after DNS resolution, and the request then
goes to the very address that was checked: a name that resolves to a public
address for the check and to a private one a moment later (DNS rebinding)
gains nothing.

"Public" is decided by explicit tables (IANA's special-purpose registries),
not by ``ipaddress``'s ``is_global`` alone, which changed in Python 3.11.9
and 3.12.4 (before them, NAT64, 6to4, IPv4-compatible, SIIT and site-local
addresses all counted as global). IPv6 forms that embed an IPv4 address:

- IPv4-mapped ``::ffff:a.b.c.d`` and NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052's
  well-known prefix, which a DNS64 resolver puts in front of an IPv4-only
  host) reach that IPv4 address: they are judged by it, so a public one
  passes (webhooks keep working from an IPv6-only host behind NAT64) and
  ``64:ff9b::10.0.0.1`` does not;
- local-use NAT64 ``64:ff9b:1::/48`` (RFC 8215; where its IPv4 address sits
  depends on the operator's prefix length), IPv4-compatible ``::a.b.c.d``
  (deprecated), SIIT ``::ffff:0:a.b.c.d`` and 6to4 ``2002::/16`` (deprecated
  by RFC 7526; a host with a 6to4 tunnel routes it itself) are refused
  whatever they embed: no webhook receiver needs them;
- any IPv6 address outside global unicast ``2000::/3`` is refused too
  (site-local ``fec0::/10``, unique local, link-local, multicast, reserved).

``is_global`` is still asked last: a newer Python can only add refusals.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

MAX_URL_CHARS: Final = 2048
# Resolves a host name and port to IP address strings; tests inject their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network
# IPv4 blocks that are not globally reachable (IANA's special-purpose registry),
# whatever this Python's ipaddress says.
IPV4_REFUSED: Final = (
    _v4("0.0.0.0/8"),  # "this network"
    _v4("10.0.0.0/8"),  # private use
    _v4("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    _v4("127.0.0.0/8"),  # loopback
    _v4("169.254.0.0/16"),  # link-local, cloud metadata (169.254.169.254)
    _v4("172.16.0.0/12"),  # private use
    _v4("192.0.0.0/24"),  # IETF protocol assignments (older Pythons: only parts of it)
    _v4("192.0.2.0/24"),  # documentation
    _v4("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    _v4("192.168.0.0/16"),  # private use
    _v4("198.18.0.0/15"),  # benchmarking
    _v4("198.51.100.0/24"),  # documentation
    _v4("203.0.113.0/24"),  # documentation
    _v4("224.0.0.0/4"),  # multicast
    _v4("240.0.0.0/4"),  # reserved, and the limited broadcast 255.255.255.255
)
# IPv6 forms whose last 32 bits are the IPv4 address the packets reach: judged by it.
IPV4_CARRIERS: Final = (
    _v6("::ffff:0:0/96"),  # IPv4-mapped
    _v6("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
# Every public IPv6 address is global unicast; the rest of the space is refused.
GLOBAL_UNICAST: Final = _v6("2000::/3")
# Outside 2000::/3 already, named here so that no table change can let them through.
IPV6_REFUSED: Final = (
    _v6("::/96"),  # IPv4-compatible (deprecated), with :: and ::1
    _v6("::ffff:0:0:0/96"),  # SIIT IPv4-translated
    _v6("64:ff9b:1::/48"),  # NAT64 local-use prefix (RFC 8215)
    _v6("100::/64"),  # discard-only
    _v6("2001::/23"),  # IETF protocol assignments: Teredo, ORCHID, benchmarking
    _v6("2001:db8::/32"),  # documentation
    _v6("2002::/16"),  # 6to4 (deprecated, RFC 7526), whatever IPv4 address it embeds
    _v6("3fff::/20"),  # documentation
    _v6("5f00::/16"),  # SRv6 segment identifiers
    _v6("fc00::/7"),  # unique local (fd00:ec2::254, a cloud metadata service)
    _v6("fe80::/10"),  # link-local
    _v6("fec0::/10"),  # site-local (deprecated)
    _v6("ff00::/8"),  # multicast
)


class RefusedTargetError(ValueError):
    """The URL may not be a webhook target; the message says why, for the client."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address to connect to."""

    url: str
    host: str
    address: str


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system's resolver, off the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


def check_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """Check a URL's form; return its scheme, host and port.

    Raises:
        RefusedTargetError: not an absolute http(s) URL with a host, or http when
            only https is allowed, or credentials in it.
    """
    if len(url) > MAX_URL_CHARS:
        raise RefusedTargetError(f"must be at most {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedTargetError("is not a valid URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise RefusedTargetError(
            "must be an https:// URL" if not allow_http else "must be http(s)://"
        )
    if not parts.hostname:
        raise RefusedTargetError("must name a host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and proxies; the signature authenticates.
        raise RefusedTargetError("must not carry a user name or password")
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port or default_port


def is_forbidden(address: IpAddress) -> bool:
    """Tell whether ``address`` is anything but public: loopback, private, metadata, and so on.

    The same answer on every Python patch level (see the module's docstring).
    """
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in IPV4_CARRIERS):
            # The last 32 bits are the IPv4 address the packets go to.
            return is_forbidden(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address not in GLOBAL_UNICAST or any(address in net for net in IPV6_REFUSED):
            return True
    elif any(address in network for network in IPV4_REFUSED):
        return True
    return not address.is_global or address.is_multicast


async def resolve_target(
    url: str, *, allow_http: bool, allow_private: bool, resolver: Resolver = system_resolver
) -> Target:
    """Check ``url`` and resolve its host to one address it is allowed to reach.

    Raises:
        RefusedTargetError: the URL is refused, its host does not resolve, or it
            resolves to a forbidden address (any of them, so that a name with
            one public and one private address cannot be used either).
    """
    _, host, port = check_url(url, allow_http=allow_http)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            found = await resolver(host, port)
        except (OSError, UnicodeError):
            raise RefusedTargetError(f"host {host!r} does not resolve") from None
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise RefusedTargetError(f"host {host!r} does not resolve")
    if not allow_private and any(is_forbidden(a) for a in addresses):
        raise RefusedTargetError(
            "resolves to an address that is not public (loopback, private, link-local, "
            "metadata, or an IPv6 form of one), which OTS_WEBHOOK_ALLOW_PRIVATE does not allow"
        )
    return Target(url=url, host=host, address=str(addresses[0]))
