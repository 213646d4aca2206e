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
    """Tell whether ``address`` is loopback, private, link-local, metadata: anything not public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
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
            "resolves to a loopback, private, link-local or metadata address, "
            "which OTS_WEBHOOK_ALLOW_PRIVATE does not allow"
        )
    return Target(url=url, host=host, address=str(addresses[0]))
