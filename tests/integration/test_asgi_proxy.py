"""uvicorn's proxy trust: started as the README says, no client picks its own address.

Each server is the README's uvicorn command as written (its flags; its host,
port and proxy address are this test's), on a limit of a few requests a
minute, counted in the server's memory: every request here comes from
127.0.0.1, so each test keeps to addresses of its own, and the direct
server's one bucket is spent by one test only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    assert_error,
    free_port,
    make_settings,
    readme_command,
    running_server,
)

pytestmark = pytest.mark.slow

LIMIT = 3
# The line ots.asgi logs when uvicorn trusts forwarding headers that ots was not told of.
WARNING = "but ots was told of no proxy"
# A key no secret has: a status check of it counts against the limit like any other.
UNKNOWN = "/secrets/" + "A" * 32
# The headers a client may forge to name an address of its choice, as the i-th lie.
FORGERIES = [
    lambda i: {"X-Forwarded-For": f"198.51.100.{i}"},
    lambda i: {"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.{i}"},
    lambda i: {"Forwarded": f"for=198.51.100.{i}"},
    lambda i: {"X-Real-IP": f"198.51.100.{i}"},
]


def serve(
    name: str, database_url: str, factory: pytest.TempPathFactory, *drop: str, **values: str
) -> Iterator[tuple[str, Path]]:
    """Run the README's command ``name`` (less the flags in ``drop``); yield its URL and log."""
    settings = make_settings(database_url, port=free_port(), rate_limit=f"{LIMIT}/minute")
    env, argv = readme_command(name, host=settings.host, port=str(settings.port), **values)
    # The database is the test's; every other variable is the README's.
    del env["OTS_DATABASE_URL"]
    argv = [word for word in argv if word not in drop]
    log = factory.mktemp(name) / "server.log"
    with running_server(settings, log, command=argv, environment=env) as base:
        yield base, log


@pytest.fixture(scope="module")
def direct(
    migrated_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The README's uvicorn command with no proxy in front."""
    yield from serve("uvicorn-direct", migrated_db, tmp_path_factory)


@pytest.fixture(scope="module")
def proxied(
    migrated_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The README's uvicorn command behind one proxy: this test, at 127.0.0.1."""
    yield from serve(
        "uvicorn-proxy", migrated_db, tmp_path_factory, forwarded_allow_ips="127.0.0.1"
    )


@pytest.fixture(scope="module")
def trusting(
    migrated_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The README's direct command without --no-proxy-headers: uvicorn's own default."""
    yield from serve("uvicorn-direct", migrated_db, tmp_path_factory, "--no-proxy-headers")


def test_forged_addresses_meet_the_limit_without_a_proxy(direct: tuple[str, Path]) -> None:
    """From 127.0.0.1, every request names another address; the limit still counts them as one."""
    base, log = direct
    with httpx.Client(base_url=base) as http:
        for i in range(LIMIT):
            response = http.get(UNKNOWN, headers=FORGERIES[i % len(FORGERIES)](i))
            assert_error(response, 404, "not_found")
        for i, forge in enumerate(FORGERIES, start=LIMIT):
            assert_error(http.get(UNKNOWN, headers=forge(i)), 429, "rate_limited")
    assert WARNING not in log.read_text()


def test_behind_the_proxy_each_forwarded_client_counts_alone(proxied: tuple[str, Path]) -> None:
    """The address the proxy appends is the client: its own bucket, whatever it wrote before."""
    base, log = proxied

    def via_proxy(client: str, written: str | None = None, **headers: str) -> dict[str, str]:
        # What a proxy appending to X-Forwarded-For sends for ``client``.
        chain = client if written is None else f"{written}, {client}"
        return {"X-Forwarded-For": chain, **headers}

    with httpx.Client(base_url=base) as http:
        for _ in range(LIMIT):
            assert_error(http.get(UNKNOWN, headers=via_proxy("192.0.2.1")), 404, "not_found")
        assert_error(http.get(UNKNOWN, headers=via_proxy("192.0.2.1")), 429, "rate_limited")
        # What the client wrote itself is kept by the proxy, and counts for nothing.
        for i in range(LIMIT):
            forged = via_proxy("192.0.2.1", f"198.51.100.{i}")
            assert_error(http.get(UNKNOWN, headers=forged), 429, "rate_limited")
        assert_error(http.get(UNKNOWN, headers=via_proxy("192.0.2.2")), 404, "not_found")
        # uvicorn gives ots the proxy's scheme: a page of the public https origin is its own.
        page = via_proxy(
            "192.0.2.3",
            **{
                "X-Forwarded-Proto": "https",
                "Origin": base.replace("http:", "https:"),
                "Sec-Fetch-Site": "same-origin",
            },
        )
        created = http.post("/generate", json={"secret": "s", "passphrase": "p"}, headers=page)
        assert created.status_code == 201, created.text
    assert WARNING not in log.read_text()


def test_uvicorns_default_trust_is_warned_of_once(trusting: tuple[str, Path]) -> None:
    """Without --no-proxy-headers, a forged X-Forwarded-For is the client: ots warns, once."""
    base, log = trusting
    with httpx.Client(base_url=base) as http:
        for i in range(LIMIT + 2):
            forged = {"X-Forwarded-For": f"198.51.100.{i}"}
            assert_error(http.get(UNKNOWN, headers=forged), 404, "not_found")
    text = log.read_text()
    assert text.count(WARNING) == 1, text
    assert "127.0.0.1, ::1 (--forwarded-allow-ips)" in text
    assert "--no-proxy-headers" in text
