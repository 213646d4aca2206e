"""Fixtures of the browser tests: one Chromium and one live server for all of them.

Package-scoped, not session-scoped: Playwright's sync API keeps an event loop
running in the main thread while it is open, and the in-process servers of
every other test need that thread's loop; closed when the last browser test
ends, it is still one browser for the whole run of browser tests.

Pages do not depend on the database, so these run once, on SQLite, whatever
OTS_TEST_DATABASES says. Without Chromium they skip, saying why, except under
CI=true or OTS_TEST_BROWSER=required, where a missing browser fails the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.harness import (
    LiveServer,
    ServerProcess,
    Watch,
    browser_missing,
    browser_required,
    chromium,
)
from tests.support import (
    FakeClock,
    free_port,
    make_settings,
    new_database,
    run_cli,
    running_server,
)

# Few attempts, so that a countdown to destruction is short.
MAX_ATTEMPTS = 3


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the whole session (a new context per test)."""
    missing = browser_missing()
    if missing is not None:
        if browser_required():
            pytest.fail(f"the browser tests are required here, but: {missing}")
        pytest.skip(missing)
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="package")
def live_clock() -> FakeClock:
    """The live server's clock: a test moves it to expire a secret."""
    return FakeClock()


@pytest.fixture(scope="package")
def live(
    browser: Any, live_clock: FakeClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server for the browser tests, on its own SQLite database."""
    del browser  # no server is started where no browser can reach it
    url = new_database("sqlite", tmp_path_factory.mktemp("browser"))
    settings = make_settings(url, max_attempts=MAX_ATTEMPTS)
    migrated = run_cli(settings, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    with LiveServer(settings, live_clock) as server:
        yield server


@pytest.fixture(scope="package")
def token_live(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server where creating needs an API token (OTS_CREATE_ACCESS=token).

    A process of its own: a process holds one app's database at a time, and
    ``live`` may be serving already.
    """
    del browser
    directory = tmp_path_factory.mktemp("browser-token")
    url = new_database("sqlite", directory)
    settings = make_settings(url, create_access="token", port=free_port(), workers=1)
    with running_server(settings, directory / "server.log") as base:
        yield ServerProcess(base, settings)


@pytest.fixture
def watch() -> Watch:
    """What the test's browser contexts report: every error and CSP violation."""
    return Watch()


@pytest.fixture
def new_context(browser: Any, watch: Watch) -> Iterator[Any]:
    """``new_context(**options)``: a fresh browser context (no cache, no storage), watched."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**{"locale": "en-US", **options})
        # Fail within a minute rather than at the suite's five-minute timeout.
        context.set_default_timeout(60_000)
        watch.attach(context)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
