"""The pages for tests: what a browser sends, and checks of an HTML answer."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

# What a browser sends for a page (Chromium's own Accept), and for a form post.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8"
)
BROWSER = {"accept": BROWSER_ACCEPT}
FORM = {**BROWSER, "content-type": "application/x-www-form-urlencoded"}
PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}


class _Text(HTMLParser):
    """The text a reader sees: no tags, no scripts' JSON, runs of white space as one."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    """Return the visible text of a page, white space collapsed."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def assert_page(response: httpx.Response, status: int) -> str:
    """Assert a page: status, HTML, the pages' headers, a CSP, no internals; return its text."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for header, value in PAGE_HEADERS.items():
        assert response.headers[header] == value, header
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "default-src 'none'" in policy
    assert "set-cookie" not in response.headers
    for leak in ("Traceback", "SELECT", "INSERT", "/work/", "sqlite3", "asyncpg"):
        assert leak not in response.text
    return page_text(response.text)
