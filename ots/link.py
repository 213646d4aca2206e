"""What a user may hand the CLI: a key, or any link ots prints, read without guessing.

The forms, for a secret and for a receipt::

    <secret_key>                              <receipt_key>
    <server>/secrets/<secret_key>             <server>/receipts/<receipt_key>
    <server>/secrets/<secret_key>#v1.<link key>[.p]      (sealed-v1, docs/sealed-v1.md)

A trailing ``/`` and a query string (a chat app's tracking tail) are ignored;
``<server>`` may carry a path (a server behind a proxy under ``/ots``).
Anything else is a ``LinkError`` with a sentence that says what is wrong:
never a key that the server would answer 404 for, as if the secret were gone.

``trust_concerns`` says why a link's server should not be talked to without
asking: it is not the user's own server, or it is reached over plain HTTP.
Pure: no HTTP, no terminal.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

from ots import request, sealed

# The server's own rule for a key (ots.crypto.KEY_PATTERN; a test keeps the two equal):
# a key outside it is refused before any lookup, so it cannot name a secret.
KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class LinkError(ValueError):
    """Neither a key nor a link ots prints, or the other kind (a receipt for a secret)."""


class Kind(StrEnum):
    """What a key opens; the value is the path segment of its links."""

    SECRET = "secrets"  # noqa: S105 - a path segment, not a password
    RECEIPT = "receipts"


@dataclass(frozen=True)
class Target:
    """A secret or receipt, as the user named it.

    Attributes:
        kind: a secret or a receipt.
        key: its key.
        server: the server a link names (None for a bare key).
        fragment: a secret link's sealed-v1 fragment (None without one).
    """

    kind: Kind
    key: str
    server: str | None = None
    fragment: str | None = None

    def __repr__(self) -> str:
        """Hide the key and the link key."""
        return f"Target(kind={self.kind.value!r}, server={self.server!r}, key=**********)"

    @property
    def sealed_link(self) -> str | None:
        """The link in its canonical form when it holds a sealed-v1 key, else None."""
        if self.server is None or self.fragment is None or self.fragment.startswith("r1."):
            return None
        return sealed.make_link(self.server, self.key, self.fragment)

    @property
    def answer_link(self) -> str | None:
        """The link in its canonical form when it is a request's answer link, else None."""
        if self.server is None or self.fragment is None or not self.fragment.startswith("r1."):
            return None
        return f"{self.server}/{self.kind.value}/{self.key}#{self.fragment}"

    @property
    def needs_passphrase(self) -> bool:
        """Whether revealing it takes a passphrase (any secret but a sealed one without .p)."""
        return self.fragment is None or self.fragment.endswith(".p")


def secret_link(server: str, secret_key: str) -> str:
    """Return a passphrase-mode secret's link: its URL, to hand over with the passphrase."""
    return f"{server.rstrip('/')}/{Kind.SECRET}/{secret_key}"


def read_target(text: str, kind: Kind) -> Target:
    """Read a key or a link of ``kind``.

    Raises:
        LinkError: neither a well-formed key nor such a link; the message says why.
    """
    text = text.strip()
    if "://" not in text and not any(mark in text for mark in "/#?"):
        if KEY_PATTERN.fullmatch(text) is None:
            raise LinkError(
                f"that is neither a {_NAMES[kind]} (16 to 128 characters of A-Z, a-z, 0-9, "
                "'_' and '-') nor a link ots prints"
            )
        return Target(kind, text)
    return _read_link(text, kind)


_NAMES: Final = {Kind.SECRET: "secret_key", Kind.RECEIPT: "receipt_key"}


def _split(text: str) -> SplitResult:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises only when read
    except ValueError:
        raise LinkError("the link's host or port is not valid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError("a link starts with https:// or http:// and a host")
    if parts.username is not None or parts.password is not None:
        # https://trusted.example@evil.example/... goes to evil.example: ots never prints one.
        raise LinkError("a link ots prints has no user name or password before the host")
    return parts


def _read_link(text: str, kind: Kind) -> Target:
    parts = _split(text)
    path = parts.path.rstrip("/")
    for found in Kind:
        prefix, mark, key = path.rpartition(f"/{found}/")
        if mark and key and "/" not in key:
            break
    else:
        raise LinkError(
            f"a {_NAMES[kind].split('_')[0]} link's path ends in /{kind}/<{_NAMES[kind]}>"
        )
    if found is not kind:
        raise LinkError(_WRONG_KIND[kind])
    key = unquote(key)
    if KEY_PATTERN.fullmatch(key) is None:
        raise LinkError("the key in the link is not one ots makes (was the link cut short?)")
    server = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    if kind is Kind.RECEIPT or not parts.fragment:
        # A receipt's fragment carries nothing; a secret link without one is passphrase mode.
        return Target(kind, key, server)
    try:
        if request.is_answer_link(text):
            # A request's answer link (docs/request-v1.md): the asker's key pair after '#'.
            request.parse_answer_link(text)
        else:
            sealed.parse_fragment(parts.fragment)
    except sealed.SealedFormatError as exc:
        raise LinkError(str(exc)) from None
    return Target(kind, key, server, parts.fragment)


_WRONG_KIND: Final = {
    Kind.SECRET: "that is a receipt link; this command takes a secret's key or link "
    "(a receipt link goes with `ots receipt` or `ots burn`)",
    Kind.RECEIPT: "that is a secret's link; this command takes the receipt key or link, "
    "which `ots share` printed for the creator",
}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def host_of(url: str) -> str:
    """Return a URL's host (and port, if given), as a person should read it.

    An internationalised name is shown in its ASCII (punycode) form, so that a
    look-alike letter cannot pass for another host.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = host.encode("ascii", "backslashreplace").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return host if port is None else f"{host}:{port}"


def is_loopback(url: str) -> bool:
    """Tell whether the URL's host is this machine (localhost or a loopback address)."""
    host = _origin(url)[1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def trust_concerns(server: str, own: str) -> list[str]:
    """Say why talking to a link's ``server`` needs the user's yes; empty when it does not.

    Args:
        server: the server the link names.
        own: the user's own server (``--url``, else ``OTS_URL``, else the default).
    """
    concerns = []
    if _origin(server) != _origin(own):
        concerns.append(
            f"the link points to {host_of(server)}, not to your server {host_of(own)} "
            "(--url, OTS_URL)"
        )
    if _origin(server)[0] == "http" and not is_loopback(server):
        concerns.append(
            f"the request would go over plain HTTP to {host_of(server)}, where anyone on the way "
            "can read the key (and a passphrase) and use it first"
        )
    return concerns
