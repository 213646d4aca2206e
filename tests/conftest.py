"""Fixtures: a migrated database per kind, settings, a clock, the app and its client."""

from __future__ import annotations

import itertools
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sanic import Sanic
from sanic_testing.reusable import ReusableClient

from ots.app import create_app
from ots.config import Settings
from tests.support import (
    DATABASES,
    FakeClock,
    drop_postgres_database,
    free_port,
    make_settings,
    new_database,
    run_cli,
)

_app_names = itertools.count()
T = TypeVar("T")


@pytest.fixture(scope="session", params=DATABASES)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database, once per kind for the whole session."""
    url = new_database(request.param, tmp_path_factory.mktemp("db"))
    result = run_cli(make_settings(url), "migrate")
    assert result.returncode == 0, result.stderr
    yield url
    if request.param == "postgres":
        drop_postgres_database(url)


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when the test says so."""
    return FakeClock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Test settings on the session's database."""
    return make_settings(db_url)


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Sanic:
    """A fresh app with a unique name (Sanic names are global per process)."""
    return create_app(settings, clock=clock, name=f"ots_test_{next(_app_names)}")


class Client:
    """A thin wrapper over sanic-testing's reusable client that returns responses."""

    def __init__(self, inner: ReusableClient) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.base = f"http://{inner.host}:{inner.port}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; return the response (``.status``, ``.json``, ``.headers``)."""
        _, response = getattr(self.inner, method.lower())(path, **kwargs)
        return response

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop (the server only runs while the loop does)."""
        return self.inner._run(coroutine)  # type: ignore[no-any-return]

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST ``path``."""
        return self.request("POST", path, **kwargs)

    def create(self, secret: str = "s3cret", passphrase: str = "pass", **extra: Any) -> str:
        """Store a secret; return its key."""
        response = self.post(
            "/generate", json={"secret": secret, "passphrase": passphrase, **extra}
        )
        assert response.status == 201, response.text
        return str(response.json["secret_key"])

    def reveal(self, key: str, passphrase: str = "pass") -> Any:
        """Try to read a secret."""
        return self.post(f"/secrets/{key}", json={"passphrase": passphrase})


@pytest.fixture
def client(app: Sanic) -> Iterator[Client]:
    """A real Sanic server for this test, in this process."""
    inner = ReusableClient(app, port=free_port())
    with inner:
        yield Client(inner)


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    """A per-test temporary directory."""
    return tmp_path
