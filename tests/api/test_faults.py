"""A database that goes away: 503 with Retry-After, an honest /health, and healing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sanic_testing.reusable import ReusableClient

from ots.app import create_app
from tests.conftest import Client
from tests.support import FakeClock, TcpProxy, free_port, make_settings


@pytest.fixture
def proxied(db_url: str) -> Iterator[tuple[Client, TcpProxy]]:
    """An app whose PostgreSQL connections pass through a proxy the test controls."""
    if not db_url.startswith("postgres"):
        pytest.skip("the outage is simulated on the PostgreSQL connection")
    parts = urlsplit(db_url)
    with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        url = db_url.replace(f":{parts.port}/", f":{proxy.port}/")
        app = create_app(make_settings(url), clock=FakeClock(), name=f"ots_fault_{proxy.port}")
        with ReusableClient(app, port=free_port()) as inner:
            yield Client(inner), proxy


def _assert_unavailable(response: object) -> None:
    assert response.status == 503  # type: ignore[attr-defined]
    assert response.json["error"] == "unavailable"  # type: ignore[attr-defined]
    assert int(response.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert "Traceback" not in response.text  # type: ignore[attr-defined]


def test_outage_is_503_and_heals(proxied: tuple[Client, TcpProxy]) -> None:
    """While the database is away every route says 503; afterwards all works, nothing lost."""
    client, proxy = proxied
    for round_ in range(3):
        # The same keep-alive connection throughout: Sanic serves it in one task.
        key = client.create(f"kept-{round_}", "pw")
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
