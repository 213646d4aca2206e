"""Regenerate the README's screenshots of the pages (docs/screenshots/) from the tested flows.

    .venv/bin/python -m tests.browser.screenshots [OUT_DIR]

It starts a server of this checkout on a throw-away SQLite file, drives
Debian's Chromium through the same steps as tests/browser/test_flows.py, and
shows the pages under https://ots.example.org (Playwright answers that name
from the local server), so the pictures hold no local address. (The pages' weights are
measured by the browser tests, without that detour.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Final

from tests.browser.harness import LiveServer, browser_missing, chromium
from tests.support import FakeClock, make_settings, new_database, run_cli

OUT: Final = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SHOWN: Final = "https://ots.example.org"
SECRET: Final = "db password: correct horse battery staple\nhost: db.internal:5432"


def _proxy(context: Any, live: LiveServer) -> None:
    """Answer every request for the shown name from the local server."""

    def forward(route: Any) -> None:
        request = route.request
        # The page's Origin is the shown name; to the local server it would be another site.
        headers = {k: v for k, v in request.headers.items() if k.lower() != "origin"}
        url = request.url.replace(SHOWN, live.base, 1)
        route.fulfill(response=route.fetch(url=url, headers=headers))

    context.route(f"{SHOWN}/**", forward)


def _shoot(page: Any, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path}")


def _page(browser: Any, live: LiveServer, **options: Any) -> Any:
    context = browser.new_context(locale="en-US", **options)
    _proxy(context, live)
    return context.new_page()


def take(browser: Any, live: LiveServer, out: Path) -> None:
    """Take every screenshot into ``out``."""
    size = {"viewport": {"width": 760, "height": 640}}
    sender = _page(browser, live, **size)
    sender.goto(f"{SHOWN}/")
    sender.fill("#secret", SECRET)
    sender.select_option("#ttl", str(86400))
    _shoot(sender, out, "share")
    sender.click("#share-submit")
    sender.wait_for_selector("#result:not([hidden])")
    link = sender.input_value("#result-link")
    receipt = sender.input_value("#result-receipt")
    _shoot(sender, out, "link")

    recipient = _page(browser, live, **size)
    recipient.goto(link)
    _shoot(recipient, out, "recipient")
    recipient.click("#sealed-submit")
    recipient.wait_for_selector("#revealed:not([hidden])")
    _shoot(recipient, out, "revealed")

    sender.goto(receipt)
    _shoot(sender, out, "receipt")

    phone = _page(browser, live, viewport={"width": 360, "height": 720}, color_scheme="dark")
    phone.goto(f"{SHOWN}/?lang=de")
    _shoot(phone, out, "share-dark-phone-de")


def main(argv: list[str]) -> int:
    """Take the screenshots into ``argv[0]`` (default docs/screenshots)."""
    missing = browser_missing()
    if missing is not None:
        print(f"cannot take screenshots: {missing}", file=sys.stderr)
        return 1
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        settings = make_settings(new_database("sqlite", Path(scratch)))
        migrated = run_cli(settings, "migrate")
        if migrated.returncode != 0:
            print(migrated.stderr, file=sys.stderr)
            return 1
        with LiveServer(settings, FakeClock()) as live, chromium() as browser:
            take(browser, live, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
