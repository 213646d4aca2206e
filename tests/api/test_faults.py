"""A database that goes away: 503 with Retry-After, an honest /health, and healing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Client, MakeClient
from tests.support import TcpProxy, assert_error, create_secret


@pytest.fixture
def proxied(db_url: str, make_client: MakeClient) -> Iterator[tuple[Client, TcpProxy]]:
    """An app whose PostgreSQL connections pass through a proxy the test controls."""
    if not db_url.startswith("postgres"):
        pytest.skip("the outage is simulated on the PostgreSQL connection")
    parts = urlsplit(db_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        url = db_url.replace(f":{parts.port}/", f":{proxy.port}/")
        yield make_client(url), proxy


def _assert_unavailable(response: Any) -> None:
    assert_error(response, 503, "unavailable")


@pytest.mark.slow  # closing pooled connections through the cut proxy takes ~10 s
def test_outage_is_503_and_heals(proxied: tuple[Client, TcpProxy]) -> None:
    """While the database is away every route says 503; afterwards all works, nothing lost."""
    client, proxy = proxied
    for round_ in range(3):
        # The same keep-alive connection throughout: Sanic serves it in one task.
        key = create_secret(client, f"kept-{round_}", "pw").secret_key
        proxy.cut()
        _assert_unavailable(client.post("/generate", json={"secret": "s", "passphrase": "p"}))
        _assert_unavailable(client.reveal(key, "pw"))
        _assert_unavailable(client.get(f"/secrets/{key}"))
        health = client.get("/health")
        assert health.status == 503
        assert health.json["database"] == "unavailable"
        assert int(health.headers["retry-after"]) > 0
        proxy.restore()
        assert client.get("/health").json == {"status": "ok", "database": "ok"}
        assert client.reveal(key, "pw").json == {"secret": f"kept-{round_}"}
        assert client.post("/generate", json={"secret": "s", "passphrase": "p"}).status == 201
