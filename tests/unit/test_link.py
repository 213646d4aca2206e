"""What the CLI accepts as a key or a link, what it refuses, and which servers need a yes."""

from __future__ import annotations

import pytest

from ots import crypto, link
from ots.link import Kind, LinkError, Target

SERVER = "https://ots.example.org"
KEY = "2cBvq0Xl8yQe4pWzT1sJr6uNa9dKfHgM"
LINK_KEY = "A" * 43
FRAGMENT = f"v1.{LINK_KEY}"

ACCEPTED = {
    "secret-key": (KEY, Kind.SECRET, Target(Kind.SECRET, KEY)),
    "receipt-key": (KEY, Kind.RECEIPT, Target(Kind.RECEIPT, KEY)),
    "key-pasted-with-spaces": (f"  {KEY}\n", Kind.SECRET, Target(Kind.SECRET, KEY)),
    "shortest-key": ("a" * 16, Kind.SECRET, Target(Kind.SECRET, "a" * 16)),
    "passphrase-link": (
        f"{SERVER}/secrets/{KEY}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER),
    ),
    "trailing-slash": (f"{SERVER}/secrets/{KEY}/", Kind.SECRET, Target(Kind.SECRET, KEY, SERVER)),
    "trailing-slashes": (
        f"{SERVER}/secrets/{KEY}//",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER),
    ),
    "query": (
        f"{SERVER}/secrets/{KEY}?utm_source=chat",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER),
    ),
    "empty-fragment": (f"{SERVER}/secrets/{KEY}#", Kind.SECRET, Target(Kind.SECRET, KEY, SERVER)),
    "sealed-link": (
        f"{SERVER}/secrets/{KEY}#{FRAGMENT}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER, FRAGMENT),
    ),
    "sealed-passphrase-link": (
        f"{SERVER}/secrets/{KEY}#{FRAGMENT}.p",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER, f"{FRAGMENT}.p"),
    ),
    "sealed-slash-and-query": (
        f"{SERVER}/secrets/{KEY}/?x=1#{FRAGMENT}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER, FRAGMENT),
    ),
    "path-prefix-and-port": (
        f"http://host:8080/ots/secrets/{KEY}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, "http://host:8080/ots"),
    ),
    "upper-case-scheme": (
        f"HTTPS://ots.example.org/secrets/{KEY}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER),
    ),
    "percent-encoded-key": (
        f"{SERVER}/secrets/{KEY[:-1]}%4D",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, SERVER),
    ),
    "receipt-link": (
        f"{SERVER}/receipts/{KEY}",
        Kind.RECEIPT,
        Target(Kind.RECEIPT, KEY, SERVER),
    ),
    "receipt-link-slash-query-fragment": (
        f"{SERVER}/receipts/{KEY}/?a=b#top",
        Kind.RECEIPT,
        Target(Kind.RECEIPT, KEY, SERVER),
    ),
    "ipv6-host": (
        f"http://[::1]:8080/secrets/{KEY}",
        Kind.SECRET,
        Target(Kind.SECRET, KEY, "http://[::1]:8080"),
    ),
}


@pytest.mark.parametrize(("text", "kind", "expected"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_read_target_accepts_every_form_ots_prints(text: str, kind: Kind, expected: Target) -> None:
    """Each key or link form gives its kind, key, server and sealed fragment."""
    assert link.read_target(text, kind) == expected


REFUSED = {
    "empty": ("", Kind.SECRET, "neither a secret_key"),
    "short-key": ("abc", Kind.SECRET, "neither a secret_key"),
    "key-with-space": (f"{KEY[:10]} {KEY[10:]}", Kind.RECEIPT, "neither a receipt_key"),
    "key-too-long": ("a" * 129, Kind.SECRET, "neither a secret_key"),
    "no-scheme": (f"ots.example.org/secrets/{KEY}", Kind.SECRET, "starts with https://"),
    "ftp": (f"ftp://ots.example.org/secrets/{KEY}", Kind.SECRET, "starts with https://"),
    "no-host": (f"https:///secrets/{KEY}", Kind.SECRET, "starts with https://"),
    "bad-port": (f"https://host:port/secrets/{KEY}", Kind.SECRET, "host or port"),
    "bad-ipv6": (f"https://[::1/secrets/{KEY}", Kind.SECRET, "host or port"),
    "user-before-host": (
        f"https://ots.example.org@evil.example/secrets/{KEY}",
        Kind.SECRET,
        "no user name or password",
    ),
    "not-a-secret-path": (f"{SERVER}/s/{KEY}", Kind.SECRET, "ends in /secrets/<secret_key>"),
    "no-key-in-link": (f"{SERVER}/secrets/", Kind.SECRET, "ends in /secrets/<secret_key>"),
    "deeper-path": (f"{SERVER}/secrets/{KEY}/x", Kind.SECRET, "ends in /secrets/<secret_key>"),
    "burn-path": (f"{SERVER}/receipts/{KEY}/burn", Kind.RECEIPT, "ends in /receipts/"),
    "key-cut-short": (f"{SERVER}/secrets/{KEY[:8]}", Kind.SECRET, "was the link cut short?"),
    "key-bad-characters": (f"{SERVER}/secrets/{KEY}%2B", Kind.SECRET, "not one ots makes"),
    "fragment-cut-short": (f"{SERVER}/secrets/{KEY}#v1.AAAA", Kind.SECRET, "cut short?"),
    "fragment-other-version": (f"{SERVER}/secrets/{KEY}#v2.{LINK_KEY}", Kind.SECRET, "sealed-v1"),
    "fragment-other-mark": (f"{SERVER}/secrets/{KEY}#{FRAGMENT}.x", Kind.SECRET, "sealed-v1"),
    "receipt-for-secret": (f"{SERVER}/receipts/{KEY}", Kind.SECRET, "that is a receipt link"),
    "secret-for-receipt": (f"{SERVER}/secrets/{KEY}", Kind.RECEIPT, "that is a secret's link"),
    "sealed-for-receipt": (
        f"{SERVER}/secrets/{KEY}#{FRAGMENT}",
        Kind.RECEIPT,
        "that is a secret's link",
    ),
}


@pytest.mark.parametrize(("text", "kind", "said"), REFUSED.values(), ids=REFUSED.keys())
def test_read_target_refuses_with_a_sentence(text: str, kind: Kind, said: str) -> None:
    """What is not a key or a link of the asked kind is a LinkError saying why."""
    with pytest.raises(LinkError) as caught:
        link.read_target(text, kind)
    assert said in str(caught.value)


def test_key_rule_is_the_servers() -> None:
    """The CLI refuses exactly the keys the server refuses before any lookup."""
    assert link.KEY_PATTERN.pattern == crypto.KEY_PATTERN.pattern


def test_target_hides_its_keys_and_rebuilds_a_sealed_link() -> None:
    """The repr shows no key; a sealed target gives the canonical link; passphrase need is told."""
    target = link.read_target(f"{SERVER}/secrets/{KEY}/?x=1#{FRAGMENT}.p", Kind.SECRET)
    assert KEY not in repr(target) and LINK_KEY not in repr(target)
    assert target.sealed_link == f"{SERVER}/secrets/{KEY}#{FRAGMENT}.p"
    assert target.needs_passphrase
    assert not link.read_target(f"{SERVER}/secrets/{KEY}#{FRAGMENT}", Kind.SECRET).needs_passphrase
    assert link.read_target(KEY, Kind.SECRET).sealed_link is None
    assert link.read_target(KEY, Kind.SECRET).needs_passphrase
    assert link.secret_link(f"{SERVER}/", KEY) == f"{SERVER}/secrets/{KEY}"


TRUST = {
    "same-server": (SERVER, SERVER, []),
    "same-with-default-port": (SERVER, f"{SERVER}:443/ots", []),
    "host-case": ("https://OTS.example.org", SERVER, []),
    "loopback-http": ("http://127.0.0.1:8080", "http://127.0.0.1:8080", []),
    "localhost-http": ("http://localhost:8080", "http://localhost:8080", []),
    "other-host": ("https://evil.example", SERVER, ["points to evil.example"]),
    "other-port": (f"{SERVER}:8443", SERVER, ["points to ots.example.org:8443"]),
    "downgrade-to-http": (
        "http://ots.example.org",
        SERVER,
        ["points to ots.example.org", "plain HTTP"],
    ),
    "http-even-when-own": ("http://10.0.0.5:8080", "http://10.0.0.5:8080", ["plain HTTP"]),
    "other-loopback": ("http://127.0.0.1:9", "http://127.0.0.1:8080", ["points to 127.0.0.1:9"]),
    "ipv6-loopback-http": ("http://[::1]:8080", "http://[::1]:8080", []),
    "ipv6-host": (
        "https://[2001:db8::1]:8443",
        SERVER,
        ["points to [2001:db8::1]:8443, not to your server ots.example.org"],
    ),
    "own-url-with-a-bad-port": (
        "https://evil.example",
        "https://ots.example.org:port",
        ["not to your server ots.example.org (--url, OTS_URL)"],
    ),
    "look-alike-host": (
        "https://\u043ets.example.org",
        SERVER,
        ["points to xn--ts-emc.example.org"],
    ),
}


@pytest.mark.parametrize(("server", "own", "said"), TRUST.values(), ids=TRUST.keys())
def test_trust_concerns(server: str, own: str, said: list[str]) -> None:
    """Another origin than the user's own, or plain HTTP off this machine, needs a yes."""
    concerns = link.trust_concerns(server, own)
    assert len(concerns) == len(said)
    for concern, words in zip(concerns, said, strict=True):
        assert words in concern


def test_host_of_escapes_what_idna_cannot_encode() -> None:
    """A host name IDNA refuses (a label over 63 characters) is shown escaped, never raw."""
    assert link.host_of("https://" + "\u00e9" * 70 + ".example:8443") == (
        "\\xe9" * 70 + ".example:8443"
    )
