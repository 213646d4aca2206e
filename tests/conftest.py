"""Fixtures: a migrated database per kind, settings, a clock, and the app with its client.

Every in-process app comes from ``make_client``; ``client`` is its default.
Each test starts on an emptied database: it owns every row it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import logging
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sanic import Sanic
from sanic_testing.reusable import ReusableClient

from ots.api.context import context_of
from ots.app import create_app
from ots.config import Settings
from ots.events import AUDIT_LOGGER
from ots.ssrf import Resolver, system_resolver
from ots.wiring import Context
from tests.support import (
    DATABASES,
    FakeClock,
    drop_postgres_database,
    empty_database,
    free_port,
    make_settings,
    new_database,
    run_cli,
)

_app_names = itertools.count()
T = TypeVar("T")


Migrated = Callable[[str], str]


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Migrated]:
    """``migrated(kind)``: one migrated database per kind for the whole session."""
    urls: dict[str, str] = {}

    def get(kind: str) -> str:
        if kind not in urls:
            url = new_database(kind, tmp_path_factory.mktemp("db"))
            result = run_cli(make_settings(url), "migrate")
            assert result.returncode == 0, result.stderr
            urls[kind] = url
        return urls[kind]

    yield get
    for url in urls.values():
        if url.startswith("postgres"):
            drop_postgres_database(url)


@pytest.fixture(scope="session", params=DATABASES)
def migrated_db(request: pytest.FixtureRequest, migrated: Migrated) -> str:
    """The session's migrated database of each kind in OTS_TEST_DATABASES (module fixtures)."""
    return migrated(request.param)


@pytest.fixture
def db_url(migrated_db: str) -> str:
    """The session's database of this kind, emptied for this test."""
    empty_database(migrated_db)
    return migrated_db


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when the test says so."""
    return FakeClock()


def build_app(
    settings: Settings,
    clock: FakeClock,
    resolver: Resolver = system_resolver,
    *,
    sweep_on_create: bool = False,
) -> Sanic:
    """A fresh app with a unique name (Sanic names are global per process)."""
    return create_app(
        settings,
        clock=clock,
        name=f"ots_test_{next(_app_names)}",
        resolver=resolver,
        sweep_on_create=sweep_on_create,
    )


class Client:
    """A real Sanic server in this process, and requests to it.

    Responses are sanic-testing's: httpx responses with ``.status`` and a
    ``.json`` property besides httpx's own attributes.
    """

    def __init__(self, inner: ReusableClient, app: Sanic) -> None:
        """Wrap ``inner``, serving ``app``."""
        self.inner = inner
        self.app = app
        self.base = f"http://{inner.host}:{inner.port}"

    @property
    def context(self) -> Context:
        """The server's worker context (store, service, chores, delivery loop ...)."""
        return context_of(self.app)

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

    def reveal(self, key: str, passphrase: str = "pass") -> Any:
        """Try to read a secret."""
        return self.post(f"/secrets/{key}", json={"passphrase": passphrase})


MakeClient = Callable[..., Client]
NewDatabase = Callable[[str], str]


@pytest.fixture
def new_db(tmp_path: Path) -> Iterator[NewDatabase]:
    """Make empty databases: ``new_db(kind)`` returns a URL; all are dropped after the test."""
    made: list[str] = []

    def make(kind: str) -> str:
        made.append(new_database(kind, tmp_path))
        return made[-1]

    yield make
    for url in made:
        if url.startswith("postgres"):
            drop_postgres_database(url)


# How long the tasks a stopped server left behind get to end once cancelled.
LEFTOVER_GRACE = 5


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a stopped server left on ``loop``, let them end, then close it.

    The server's loop only runs while a request does, so a task can be left
    suspended, e.g. a pooled PostgreSQL connection still being opened. Left
    to the garbage collector after the loop closed, its clean-up ran against
    the closed (uvloop) loop and crashed the interpreter (a segfault in
    ``gc.collect``); cancelled now, it ends while the loop still works.
    """
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.wait(leftovers, timeout=LEFTOVER_GRACE))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture
def make_client(clock: FakeClock, new_db: NewDatabase) -> Iterator[MakeClient]:
    """Start in-process servers: ``make_client(database_url, resolver=..., **settings_overrides)``.

    Each runs the test settings on ``clock``, with the overrides (and a fake
    DNS for webhooks if ``resolver`` is given; ``sweep_on_create=True`` as
    the ASGI entry point builds it); all stop after the test, before any
    database of ``new_db`` is dropped.
    """
    del new_db  # requested only so that its databases outlive these servers
    with contextlib.ExitStack() as stack:
        # Runs last: the stopped servers' leftover tasks are collected now, at a safe
        # point. Collected later, in the middle of CPython 3.11's ast.parse (Sanic compiles
        # its router with it), their finalizers log tracebacks, whose formatting parses
        # too and breaks the outer parse: "SystemError: AST constructor recursion depth
        # mismatch" in an unrelated test.
        stack.callback(gc.collect)

        def make(
            database_url: str,
            resolver: Resolver = system_resolver,
            *,
            sweep_on_create: bool = False,
            **overrides: Any,
        ) -> Client:
            settings = make_settings(database_url, **overrides)
            app = build_app(settings, clock, resolver, sweep_on_create=sweep_on_create)
            inner = ReusableClient(app, port=free_port())
            # sanic-testing never closes the loop it made: three descriptors per
            # server, until select() in a later test fails past descriptor 1023.
            # Registered first, so it runs after the server has stopped.
            stack.callback(close_loop, inner._loop)
            stack.enter_context(inner)
            return Client(inner, app)

        yield make


@pytest.fixture
def client(make_client: MakeClient, db_url: str) -> Client:
    """A server with the test settings on the test's database."""
    return make_client(db_url)


@pytest.fixture
def audit() -> Iterator[list[dict[str, Any]]]:
    """The audit log lines written during the test, parsed."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # One record may hold several lines (a sweep batch): one event each.
            lines.extend(json.loads(line) for line in record.getMessage().splitlines())

    handler = Collect()
    logging.getLogger(AUDIT_LOGGER).addHandler(handler)
    yield lines
    logging.getLogger(AUDIT_LOGGER).removeHandler(handler)
