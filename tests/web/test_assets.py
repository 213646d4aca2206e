"""The pages' static files: pinned vendored code, hashed URLs, and scripts that stay clean."""

from __future__ import annotations

import gzip
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from ots.web.assets import IMMUTABLE, STATIC, Assets
from tests.conftest import Client
from tests.support import BROWSER, create_secret

VENDORED = sorted(STATIC.glob("vendor/*/README.md"))
OWN_SCRIPTS = sorted((STATIC / "js").glob("*.js"))


@pytest.mark.parametrize("readme", VENDORED, ids=lambda path: path.parent.name)
def test_vendored_files_match_their_recorded_checksum(readme: Path) -> None:
    """Each vendored file is the one its README pins: package, version, licence, sha256."""
    text = readme.read_text()
    for row in ("| package |", "| version |", "| licence | MIT", "| sha256 |"):
        assert row in text, row
    assert (readme.parent / "LICENSE").read_text().startswith("MIT License")
    recorded = re.search(r"\| sha256 \| ([0-9a-f]{64}) \|", text)
    named = re.search(r"\| file \| ([\w.-]+):", text)
    assert recorded is not None and named is not None
    body = (readme.parent / named.group(1)).read_bytes()
    assert hashlib.sha256(body).hexdigest() == recorded.group(1)


FORBIDDEN_IN_SCRIPTS = {
    "html-sinks": re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write"),
    "eval": re.compile(r"\beval\(|new Function\("),
    "storage": re.compile(r"localStorage|indexedDB|document\.cookie"),
    "tab-storage": re.compile(r"sessionStorage"),
    "other-hosts": re.compile(r"https?://[\w.-]"),
    "console": re.compile(r"console\."),
}
# The one exception: token.js keeps the API token for the tab (sessionStorage), and
# nothing else; a secret, a passphrase or a link key is never stored.
ALLOWED_IN_SCRIPTS = {"tab-storage": {"token.js"}}


@pytest.mark.parametrize("rule", FORBIDDEN_IN_SCRIPTS, ids=FORBIDDEN_IN_SCRIPTS)
def test_own_scripts_never_write_html_store_or_call_out(rule: str) -> None:
    """No HTML sinks, no eval, no storage or cookies, no other host, in ots's own scripts."""
    pattern = FORBIDDEN_IN_SCRIPTS[rule]
    allowed = ALLOWED_IN_SCRIPTS.get(rule, set())
    found = [
        path.name
        for path in OWN_SCRIPTS
        if path.name not in allowed and pattern.search(path.read_text())
    ]
    assert found == [], found


def test_only_the_token_is_kept_in_the_tab() -> None:
    """token.js stores one item under one key: the token, never anything else."""
    script = (STATIC / "js" / "token.js").read_text()
    assert set(re.findall(r"sessionStorage\.(\w+)\((\w*)", script)) == {
        ("getItem", "KEY"),
        ("setItem", "KEY"),
        ("removeItem", "KEY"),
    }
    assert 'const KEY = "ots.token";' in script


def test_version_changes_with_any_file(tmp_path: Path) -> None:
    """The URL hash covers every file: change one byte anywhere, and every URL changes."""
    (tmp_path / "a.css").write_text("a{}")
    (tmp_path / "b.js").write_text("1")
    (tmp_path / "notes.md").write_text("not served")
    before = Assets.load(tmp_path)
    (tmp_path / "b.js").write_text("2")
    after = Assets.load(tmp_path)
    assert before.version != after.version
    assert set(after.files) == {"a.css", "b.js"}
    assert after.url("a.css") == f"/static/{after.version}/a.css"
    with pytest.raises(KeyError):
        after.url("notes.md")


class _Loads(HTMLParser):
    """Every URL a page makes the browser load (scripts, styles, icons)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


def test_every_file_a_page_loads_is_served_immutable(client: Client) -> None:
    """Pages load only /static/<version>/… files, each served with its type, cached for good."""
    created = create_secret(client)
    loaded: set[str] = set()
    pages = ("/", f"/secrets/{created.secret_key}", f"/receipts/{created.receipt_key}")
    for path in (*pages, "/my-secrets"):
        parser = _Loads()
        parser.feed(client.get(path, headers=BROWSER).text)
        loaded.update(parser.urls)
    assert len(loaded) >= 4
    for url in loaded:
        assert url.startswith("/static/"), url
        response = client.get(url)
        assert response.status == 200, url
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["content-type"].split(";")[0] in (
            "text/css",
            "text/javascript",
            "image/svg+xml",
        )
        again = client.get(url, headers={"if-none-match": response.headers["etag"]})
        assert again.status == 304
        assert again.content == b""


def test_every_module_a_script_imports_is_served(client: Client) -> None:
    """Each relative import of each served script resolves to a served file."""
    version = client.app.ctx.web.assets.version
    for path in OWN_SCRIPTS:
        for target in re.findall(
            r"""(?:from|import)\s*\(?\s*["'](\.[^"']+)["']""", path.read_text()
        ):
            url = f"/static/{version}/js/{target}"
            response = client.get(url)
            assert response.status == 200, (path.name, target)


NOT_SERVED = {
    "other-version": "/static/0000000000000000/ots.css",
    "no-such-file": "/static/{version}/nope.js",
    "readme": "/static/{version}/vendor/hash-wasm/README.md",
    "licence": "/static/{version}/vendor/hash-wasm/LICENSE",
    "escape": "/static/{version}/../pages.py",
    "encoded-escape": "/static/{version}/%2e%2e/%2e%2e/config.py",
    "templates": "/static/{version}/../templates/base.html",
}


@pytest.mark.parametrize("template", NOT_SERVED.values(), ids=NOT_SERVED.keys())
def test_only_this_builds_files_are_served(client: Client, template: str) -> None:
    """Another version, a missing file, a README or a path out of static/: a 404."""
    url = template.format(version=client.app.ctx.web.assets.version)
    response = client.get(url)
    assert response.status == 404
    assert response.headers["content-type"] == "application/json"


def test_scripts_are_gzipped_only_for_clients_that_accept_it(client: Client) -> None:
    """Compressed when asked (with its own ETag), as is otherwise; the same bytes either way."""
    url = client.app.ctx.web.assets.url("vendor/hash-wasm/argon2.umd.min.js")
    plain = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = client.inner._run(_raw_gzip(client, url))
    assert raw[0] == "gzip"
    assert gzip.decompress(raw[1]) == plain.content
    assert len(raw[1]) < 0.8 * len(plain.content)
    assert raw[2] != plain.headers["etag"]
    assert plain.headers["vary"] == "Accept-Encoding"


async def _raw_gzip(client: Client, url: str) -> tuple[str, bytes, str]:
    async with httpx.AsyncClient(base_url=client.base) as http:
        request = http.build_request("GET", url, headers={"accept-encoding": "gzip"})
        response = await http.send(request, stream=True)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        return response.headers["content-encoding"], body, response.headers["etag"]
