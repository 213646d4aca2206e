"""What the browser tests and the screenshot script share: a live server, Chromium, watchers.

The server runs in a thread of this process on the test's fake clock (so an
expiry is a clock move, not a sleep); Chromium is Debian's, driven by
Playwright without any browser download.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sanic_testing.reusable import ReusableClient

from ots.config import Settings
from tests.conftest import build_app, close_loop
from tests.support import FakeClock, free_port, run_cli

CHROMIUM: Final = os.environ.get("OTS_TEST_CHROMIUM", "/usr/bin/chromium")
INSECURE_HOST: Final = "ots.test"
# Root in a container has no user namespaces for Chromium's sandbox; nothing else goes out.
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # A name that is not localhost for the live server: a page there is no secure context.
    f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
]


def browser_required() -> bool:
    """Whether a missing Chromium fails the run (CI, or asked for) rather than skipping."""
    return os.environ.get("CI") == "true" or os.environ.get("OTS_TEST_BROWSER") == "required"


def browser_missing() -> str | None:
    """Return why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set OTS_TEST_CHROMIUM)"
    return None


class LiveServer:
    """An ots app served from a thread of this process until the block ends."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        """Serve an app with ``settings`` on ``clock``, once entered."""
        self.settings = settings
        self.clock = clock
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="ots-live", daemon=True)

    def _serve(self) -> None:
        try:
            client = ReusableClient(build_app(self.settings, self.clock), port=self.port)
            self._loop = client._loop
            client.run()
        except BaseException as exc:  # reported by __enter__
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        client.stop()
        close_loop(self._loop)

    def __enter__(self) -> LiveServer:
        """Start serving; return when the server listens."""
        self._thread.start()
        self._ready.wait(60)
        if self._failure is not None or self._loop is None:
            raise RuntimeError("the live server did not start") from self._failure
        return self

    def __exit__(self, *_: object) -> None:
        """Stop serving."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


@dataclass(frozen=True)
class ServerProcess:
    """A real ``ots serve`` process (another process: one app per process opens a database)."""

    base: str
    settings: Settings

    def issue_token(self, name: str) -> str:
        """Make an API token with ``ots tokens add --json``; return its text."""
        added = run_cli(self.settings, "tokens", "add", name, "--json")
        assert added.returncode == 0, added.stderr
        token: str = json.loads(added.stdout)["token"]
        return token


@contextmanager
def chromium() -> Iterator[Any]:
    """Launch Debian's Chromium headless through Playwright; yield the Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Chromium reports a 4xx answer to a page or a fetch on the console, whatever the
# page does with it; a test that expects one says which statuses it expects.
_HTTP_ERROR: Final = re.compile(
    r"Failed to load resource: the server responded with a status of (\d+)"
)


@dataclass
class Watch:
    """Everything a context's pages said that a clean page never says: errors, CSP refusals."""

    problems: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        """Record the console errors and uncaught exceptions of every page of ``context``."""
        # CSP violations are console errors in Chromium; the listener names them even so.
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))

    def _console(self, message: Any) -> None:
        if message.type not in ("error", "warning"):
            return
        status = _HTTP_ERROR.search(message.text)
        if status is not None:
            self.statuses.append(int(status.group(1)))
            return
        self.problems.append(f"console {message.type}: {message.text}")

    def assert_clean(self, *expected_statuses: int, insecure_origin: bool = False) -> None:
        """Assert no error or CSP violation, and no HTTP error but those expected.

        ``insecure_origin``: the pages were on plain http with a name other than
        localhost, where Chromium says that it ignores Cross-Origin-Opener-Policy.
        """
        problems = [
            problem
            for problem in self.problems
            if not (
                insecure_origin and "Cross-Origin-Opener-Policy header has been ignored" in problem
            )
        ]
        assert problems == [], problems
        assert set(self.statuses) <= set(expected_statuses), self.statuses


@dataclass
class Weight:
    """Bytes a page load took over the network, counted by Chromium (headers included)."""

    total: int = 0
    by_url: dict[str, int] = field(default_factory=dict)

    def attach(self, context: Any, page: Any) -> None:
        """Count every response ``page`` receives from now on."""
        session = context.new_cdp_session(page)
        urls: dict[str, str] = {}
        session.on(
            "Network.responseReceived",
            lambda event: urls.__setitem__(event["requestId"], event["response"]["url"]),
        )
        session.on("Network.loadingFinished", lambda event: self._add(urls, event))
        session.send("Network.enable")

    def _add(self, urls: dict[str, str], event: dict[str, Any]) -> None:
        size = int(event["encodedDataLength"])
        self.total += size
        url = urls.get(event["requestId"], event["requestId"])
        self.by_url[url] = self.by_url.get(url, 0) + size


def serious_axe_violations(page: Any) -> list[str]:
    """Run axe-core in ``page``; return its serious and critical violations, described."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(node["target"][0] for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def decode_qr(png: bytes) -> list[str]:
    """Return the texts of the QR codes in a PNG screenshot."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    # QR codes only: read as any format, the QR's modules once also gave a 1-D
    # barcode "2787" beside the link.
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [result.text for result in found]
