"""API tokens: their shape, their state, and who may create secrets (``OTS_CREATE_ACCESS``).

A token reads ``ots_<id>_<random>``: a prefix secret scanners can spot, the
row's id, and 256 random bits. The database keeps only an HMAC of the random
part under the server key (``crypto.token_digest``). Nothing here touches a
database or Sanic: the store keeps ``Token`` rows, ``ots.access`` applies the
rules below to a request.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from limits import parse as parse_rate_limit

TOKEN_PREFIX: Final = "ots_"  # noqa: S105 - the recognisable prefix, not a secret
# The id is a positive 64-bit integer; the random part is secrets.token_urlsafe(32).
_TOKEN: Final = re.compile(r"ots_([1-9][0-9]{0,18})_([A-Za-z0-9_-]{43})")
MAX_NAME_CHARS: Final = 64
# Ids, times and byte counts are 64-bit signed integers in both databases.
MAX_INT: Final = 2**63 - 1
# The column's width (token.rate_limit).
MAX_RATE_CHARS: Final = 64
# The quota key of a create made with a token: its share is the token's, not its address's.
TOKEN_QUOTA: Final = "token:"  # noqa: S105 - a key prefix


class AccessMode(enum.StrEnum):
    """Who may create secrets (``OTS_CREATE_ACCESS``); reading never needs a token."""

    OPEN = "open"
    TOKEN = "token"  # noqa: S105 - a mode's name
    NETWORK = "network"
    TOKEN_OR_NETWORK = "token_or_network"  # noqa: S105 - a mode's name

    @property
    def takes_tokens(self) -> bool:
        """Whether a token alone lets a client create."""
        return self in (AccessMode.OPEN, AccessMode.TOKEN, AccessMode.TOKEN_OR_NETWORK)

    @property
    def takes_networks(self) -> bool:
        """Whether an address in ``OTS_CREATE_NETWORKS`` alone lets a client create."""
        return self in (AccessMode.NETWORK, AccessMode.TOKEN_OR_NETWORK)


class TokenState(enum.StrEnum):
    """Whether a token may be used."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class TokenLimits:
    """A token's own limits on top of the instance's (None: none of its own)."""

    # ``N/PERIOD`` as OTS_RATE_LIMIT, e.g. ``100/hour``.
    rate_limit: str | None = None
    # Bytes of live secrets the token may hold at once.
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        """Refuse limits nobody meant.

        Raises:
            ValueError: a rate that ``limits`` cannot read, or a byte quota below 1.
        """
        if self.rate_limit is not None:
            if len(self.rate_limit) > MAX_RATE_CHARS or ";" in self.rate_limit:
                raise ValueError(f"rate_limit must be one rate of {MAX_RATE_CHARS} characters")
            parse_rate_limit(self.rate_limit)
        if self.max_bytes is not None and not 1 <= self.max_bytes <= MAX_INT:
            raise ValueError(f"max_bytes must be between 1 and {MAX_INT}")


@dataclass(frozen=True)
class NewToken:
    """A token to store: everything but its id, which the database gives."""

    name: str
    key_id: str
    digest: str = field(repr=False)
    created_at: int
    expires_at: int | None
    limits: TokenLimits


@dataclass(frozen=True)
class Token:
    """A stored token, as ``ots tokens list`` shows it (its digest is never shown)."""

    id: int
    name: str
    key_id: str
    digest: str = field(repr=False)
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None
    limits: TokenLimits

    def state(self, now: int) -> TokenState:
        """Return whether the token may be used at ``now``."""
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.ACTIVE

    @property
    def quota_key(self) -> str:
        """The key its creates count against for the per-client share."""
        return f"{TOKEN_QUOTA}{self.id}"


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: the only time its text exists outside its holder's hands."""

    token: Token
    text: str = field(repr=False)


def token_text(token_id: int, token_secret: str) -> str:
    """Return the token a client sends: ``ots_<id>_<random>``."""
    return f"{TOKEN_PREFIX}{token_id}_{token_secret}"


def parse_token(text: str) -> tuple[int, str] | None:
    """Return the id and the random part of ``text``, or None if it is no token of ours."""
    matched = _TOKEN.fullmatch(text)
    if matched is None or int(matched[1]) > MAX_INT:
        return None
    return int(matched[1]), matched[2]


def is_bearer(authorization: str) -> bool:
    """Tell whether an ``Authorization`` value claims a token of ots.

    The Bearer scheme does, and so does a bare ``ots_…`` (a token sent without
    its scheme is a wrong token, never ignored). Another scheme (``Basic``
    from a password-protected proxy in front) is no claim: such a request
    counts as one without a token.
    """
    value = authorization.strip()
    return value.partition(" ")[0].lower() == "bearer" or value.startswith(TOKEN_PREFIX)


def bearer_token(authorization: str) -> str | None:
    """Return the token of an ``Authorization: Bearer <token>`` value, else None."""
    if not is_bearer(authorization):
        return None
    return authorization.strip().partition(" ")[2].strip() or None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """Return the networks of a comma-separated CIDR list (``10.0.0.0/8, 2001:db8::/32``).

    Raises:
        ValueError: an entry is not a network (host bits set count as an error:
            ``10.0.0.1/8`` is likely a typo).
    """
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def in_networks(address: str, networks: Iterable[Network]) -> bool:
    """Tell whether the client ``address`` lies in any of ``networks``.

    An IPv4-mapped IPv6 address counts as its IPv4 address; anything that is
    not an address (a Unix socket) lies in none.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)
