"""API tokens as values: their text, their state, the networks, and what `ots tokens` refuses."""

from __future__ import annotations

import argparse

import pytest

from ots import crypto, token_cli
from ots.config import Settings
from ots.errors import ConfigError
from ots.tokens import (
    AccessMode,
    Token,
    TokenLimits,
    TokenState,
    bearer_token,
    in_networks,
    parse_networks,
    parse_token,
    token_text,
)

SECRET = crypto.new_token_secret()


def test_a_token_reads_back_and_nothing_else_does() -> None:
    """``ots_<id>_<random>`` parses to its parts; near misses parse to nothing."""
    text = token_text(42, SECRET)
    assert text.startswith("ots_42_") and parse_token(text) == (42, SECRET)
    for bad in (
        "ots_0_" + SECRET,
        "ots_042_" + SECRET,
        "ots_42_" + SECRET[:-1],
        "ots_42_" + SECRET + "x",
        "OTS_42_" + SECRET,
        "ots_42_" + SECRET.replace(SECRET[0], "%", 1),
        "ots_" + "9" * 20 + "_" + SECRET,
        f"ots_{2**63}_{SECRET}",
        "",
    ):
        assert parse_token(bad) is None, bad


BEARERS = {
    "Bearer abc": "abc",
    "bearer abc": "abc",
    "  Bearer   abc  ": "abc",
    "Bearer": None,
    "Basic abc": None,
    "abc": None,
}


@pytest.mark.parametrize(("header", "token"), BEARERS.items(), ids=BEARERS.keys())
def test_the_bearer_scheme_is_read_case_blind(header: str, token: str | None) -> None:
    """Only the Bearer scheme carries a token."""
    assert bearer_token(header) == token


def test_a_token_is_active_until_it_expires_or_is_revoked() -> None:
    """Expiry is at expires_at exactly; revocation wins over everything."""
    token = Token(1, "ci", "k1", "d", 100, 200, None, None, TokenLimits())
    assert token.state(199) is TokenState.ACTIVE
    assert token.state(200) is TokenState.EXPIRED
    revoked = Token(1, "ci", "k1", "d", 100, None, None, 150, TokenLimits())
    assert revoked.state(120) is TokenState.REVOKED
    assert "'d'" not in repr(token) and token.quota_key == "token:1"


def test_limits_nobody_meant_are_refused() -> None:
    """A rate ``limits`` cannot read, or a byte quota below one, is an error."""
    with pytest.raises(ValueError, match="lots"):
        TokenLimits(rate_limit="lots")
    with pytest.raises(ValueError, match="max_bytes"):
        TokenLimits(max_bytes=0)
    assert TokenLimits("10/second", 1).max_bytes == 1


NETWORKS = parse_networks("10.0.0.0/8, 2001:db8::/32")
ADDRESSES = {
    "10.1.2.3": True,
    "::ffff:10.1.2.3": True,
    "2001:db8::7": True,
    "11.0.0.1": False,
    "2001:db9::1": False,
    "unix:/run/ots.sock": False,
    "": False,
}


@pytest.mark.parametrize(("address", "inside"), ADDRESSES.items(), ids=ADDRESSES.keys())
def test_an_address_lies_in_the_networks_or_not(address: str, inside: bool) -> None:
    """IPv4, IPv4-mapped IPv6 as IPv4, IPv6; a socket path lies in none."""
    assert in_networks(address, NETWORKS) is inside


BAD_SETTINGS = {
    "unknown mode": {"create_access": "closed"},
    "network without networks": {"create_access": "network"},
    "either without networks": {"create_access": "token_or_network"},
    "host bits set": {"create_access": "network", "create_networks": "10.0.0.1/8"},
    "not a network": {"create_networks": "intranet"},
}


@pytest.mark.parametrize("values", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_access_settings_nobody_meant_stop_the_server(values: dict[str, str]) -> None:
    """A bad mode or network list names its variable."""
    with pytest.raises(ConfigError, match="OTS_CREATE_"):
        Settings(**values)  # type: ignore[arg-type]


def test_access_settings_read_as_the_mode_says() -> None:
    """The mode's helpers say what lets a client in."""
    settings = Settings(create_access="token_or_network", create_networks="192.0.2.0/24")
    assert settings.access_mode is AccessMode.TOKEN_OR_NETWORK
    assert settings.allowed_networks == parse_networks("192.0.2.0/24")
    assert AccessMode.TOKEN_OR_NETWORK.takes_tokens and AccessMode.NETWORK.takes_networks
    assert not AccessMode.NETWORK.takes_tokens and not AccessMode.TOKEN.takes_networks


def _parsed(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    token_cli.add_arguments(parser)
    return parser.parse_args(args)


BAD_ADDS = {
    "empty name": ("add", " "),
    "name too long": ("add", "x" * 65),
    "a control character": ("add", "ci\x1b[2J"),
    "rate that is no rate": ("add", "ci", "--rate-limit", "lots"),
    "no bytes": ("add", "ci", "--max-bytes", "0"),
    "no lifetime": ("add", "ci", "--expires-in", "0"),
    "a lifetime past any use": ("add", "ci", "--expires-in", str(2**63)),
    "more bytes than a column holds": ("add", "ci", "--max-bytes", str(2**63)),
    "two rates": ("add", "ci", "--rate-limit", "1/second;100/hour"),
    "a rate wider than its column": ("add", "ci", "--rate-limit", "1" * 60 + "/hour"),
    "an id past 64 bits": ("revoke", str(2**63)),
    "no id": ("revoke", "0"),
}


@pytest.mark.parametrize("args", BAD_ADDS.values(), ids=BAD_ADDS.keys())
def test_ots_tokens_add_refuses_a_token_nobody_meant(args: tuple[str, ...]) -> None:
    """Checked before the database is opened: a sentence, not a stored token."""
    assert token_cli.usage_problem(_parsed(*args))


def test_ots_tokens_takes_what_is_meant() -> None:
    """A plain add, and list and revoke, pass the check."""
    add = ("add", "ci bot", "--expires-in", "3600", "--rate-limit", "100/hour")
    for args in (add, ("list",), ("revoke", "3")):
        assert token_cli.usage_problem(_parsed(*args)) is None
