"""The pages over HTTP, on both databases: who gets one, what it says, what it sends."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from ots import sealed
from tests.conftest import Client, MakeClient
from tests.support import (
    BROWSER,
    BROWSER_ACCEPT,
    Created,
    assert_error,
    assert_page,
    create_secret,
)

WASM_POLICY = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PLAIN_POLICY = WASM_POLICY.replace(" 'wasm-unsafe-eval'", "")
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"


def create_sealed(client: Client, plaintext: bytes = b"hunter2", **fields: Any) -> Created:
    """Store a secret sealed here, as the CLI would."""
    secret = sealed.seal(plaintext)
    response = client.post("/generate", json={**secret.request(), **fields})
    assert response.status == 201, response.text
    body = response.json
    return Created(body["secret_key"], body["receipt_key"], body["expires_at"])


# Requests an API client sends: none of them may see anything but today's JSON.
API_ACCEPTS = {
    "no-accept": None,
    "anything": "*/*",
    "json": "application/json",
    "tie": "text/html, application/json",
    "json-first": "application/json, text/html;q=0.9",
    "text-wildcard": "text/*",
}


def compact(body: dict[str, Any]) -> bytes:
    """The JSON bytes ots writes for ``body`` (no spaces)."""
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("accept", API_ACCEPTS.values(), ids=API_ACCEPTS.keys())
def test_api_clients_get_the_json_byte_for_byte(client: Client, accept: str | None) -> None:
    """Whatever an API client accepts, the same JSON bytes as ever; only HTML asks for a page."""
    created = create_secret(client)
    # Checked once first, so that the receipt's opened_at no longer changes below.
    assert client.get(f"/secrets/{created.secret_key}").status == 200
    receipt = client.get(f"/receipts/{created.receipt_key}").json
    expected = {
        f"/secrets/{created.secret_key}": compact(
            {"state": "pending", "expires_at": created.expires_at, "attempts_left": 5}
        ),
        f"/receipts/{created.receipt_key}": compact(receipt),
        "/secrets/" + "A" * 32: compact(
            {
                "error": "not_found",
                "message": "There is no such secret, or it is no longer available.",
            }
        ),
        "/": compact({"error": "not_found", "message": "There is no such path or key."}),
    }
    headers = {} if accept is None else {"accept": accept}
    for path, body in expected.items():
        response = client.get(path, headers=headers)
        assert response.content == body, path
        assert response.headers["content-type"] == "application/json"
        assert response.headers["content-security-policy"] == JSON_POLICY
        assert "vary" not in response.headers
        assert client.request("HEAD", path, headers=headers).headers["content-type"] == (
            "application/json"
        )
        page = client.get(path, headers=BROWSER)
        assert page.headers["content-type"] == "text/html; charset=utf-8", path


def test_a_browser_gets_the_three_pages(client: Client) -> None:
    """The share page, the recipient's page and the receipt page, each with its own CSP."""
    created = create_secret(client)
    share = client.get("/", headers=BROWSER)
    assert "Share a secret" in assert_page(share, 200)
    assert share.headers["content-security-policy"] == WASM_POLICY
    recipient = client.get(f"/secrets/{created.secret_key}", headers=BROWSER)
    assert "A secret is waiting for you" in assert_page(recipient, 200)
    assert recipient.headers["content-security-policy"] == WASM_POLICY
    receipt = client.get(f"/receipts/{created.receipt_key}", headers=BROWSER)
    assert "Waiting to be read." in assert_page(receipt, 200)
    assert receipt.headers["content-security-policy"] == PLAIN_POLICY
    for page in (share, recipient, receipt):
        assert page.headers["vary"] == "Accept, Accept-Language"
        assert page.headers["content-language"] == "en"
        assert page.headers["cross-origin-opener-policy"] == "same-origin"


def test_recipient_page_says_until_when_and_attempts_left(
    make_client: MakeClient, db_url: str
) -> None:
    """The page shows the expiry and the attempts left, and never the secret."""
    client = make_client(db_url, max_attempts=4)
    created = create_secret(client, secret="the-real-secret", ttl=3600)
    client.reveal(created.secret_key, "wrong")
    page = client.get(f"/secrets/{created.secret_key}", headers=BROWSER)
    text = assert_page(page, 200)
    assert "Attempts left 3" in text
    assert f'datetime="{created.expires_at}"' in page.text
    assert "the-real-secret" not in page.text


class _Markup(HTMLParser):
    """What a CSP without 'unsafe-inline' would refuse: inline code and inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in found:
            if name.startswith("on") or name == "style":
                self.inline.append(f"<{tag} {name}>")
        if tag == "script" and "src" not in found and found.get("type") != "application/json":
            self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        for name in ("src", "href", "action"):
            value = found.get(name) or ""
            if "://" in value and name != "href":
                self.inline.append(f"remote {name}: {value}")


def test_pages_carry_nothing_inline_and_load_nothing_from_elsewhere(client: Client) -> None:
    """No inline script, handler or style attribute, and no other host, on any page kind."""
    created = create_sealed(client)
    paths = [
        "/",
        f"/secrets/{created.secret_key}",
        f"/receipts/{created.receipt_key}",
        "/my-secrets",
        "/nope",
    ]
    for path, status in zip(paths, (200, 200, 200, 200, 404), strict=True):
        response = client.get(path, headers=BROWSER)
        assert_page(response, status)
        parser = _Markup()
        parser.feed(response.text)
        assert parser.inline == [], path
        assert not re.search(r"https?://[\w.-]", response.text), path


def test_loading_pages_changes_nothing(client: Client) -> None:
    """Any number of page loads and HEADs leave the secret pending with every attempt."""
    created = create_secret(client)
    for _ in range(3):
        for method in ("GET", "HEAD"):
            for path in (f"/secrets/{created.secret_key}", f"/receipts/{created.receipt_key}"):
                page = client.request(method, path, headers=BROWSER)
                assert page.headers["content-type"] == "text/html; charset=utf-8"
    status = client.get(f"/secrets/{created.secret_key}").json
    assert (status["state"], status["attempts_left"]) == ("pending", 5)
    receipt = client.get(f"/receipts/{created.receipt_key}").json
    assert (receipt["state"], receipt["failed_attempts"]) == ("pending", 0)
    assert client.reveal(created.secret_key).json == {"secret": "s3cret"}


def test_head_of_a_page_has_its_headers_and_no_body(client: Client) -> None:
    """HEAD answers a page's headers, as a scanner's HEAD gets them, with no body."""
    created = create_secret(client)
    response = client.request("HEAD", f"/secrets/{created.secret_key}", headers=BROWSER)
    assert response.status == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == WASM_POLICY
    assert response.content == b""


def test_receipt_page_says_opened_but_not_revealed(client: Client) -> None:
    """Once the recipient's page was loaded, the creator's page says it was opened, not read."""
    created = create_secret(client)
    receipt_path = f"/receipts/{created.receipt_key}"
    before = assert_page(client.get(receipt_path, headers=BROWSER), 200)
    assert "was opened" not in before and "Link first opened" not in before
    assert_page(client.get(f"/secrets/{created.secret_key}", headers=BROWSER), 200)
    after = assert_page(client.get(receipt_path, headers=BROWSER), 200)
    assert "The link was opened, but the secret was not revealed." in after
    assert "Link first opened" in after
    client.reveal(created.secret_key)
    revealed = assert_page(client.get(receipt_path, headers=BROWSER), 200)
    assert "was not revealed" not in revealed and "Link first opened" in revealed


def test_receipt_page_follows_the_secret(client: Client) -> None:
    """Pending, then revealed with its time; wrong passphrases counted."""
    created = create_secret(client)
    client.reveal(created.secret_key, "wrong")
    client.reveal(created.secret_key)
    page = client.get(f"/receipts/{created.receipt_key}", headers=BROWSER)
    text = assert_page(page, 200)
    assert "Read: the secret was revealed and is gone." in text
    assert "Revealed" in text and "Wrong passphrases 1" in text
    assert "Burn the secret" not in text


ERROR_PAGES = {
    "unknown-secret": ("/secrets/" + "A" * 32, "This secret does not exist, or it is gone"),
    "bad-key": ("/secrets/%00%FF", "This secret does not exist, or it is gone"),
    "unknown-receipt": ("/receipts/" + "B" * 32, "There is no such receipt"),
    "unknown-path": ("/nothing/here", "There is no page at this address."),
}


@pytest.mark.parametrize(("path", "sentence"), ERROR_PAGES.values(), ids=ERROR_PAGES.keys())
def test_a_browser_gets_a_calm_404_page(client: Client, path: str, sentence: str) -> None:
    """Unknown, read, expired or burned: one sentence, status 404, and no detail."""
    text = assert_page(client.get(path, headers=BROWSER), 404)
    assert sentence in text
    assert client.get(path).json["error"] == "not_found"


def test_every_end_of_a_secret_reads_the_same(client: Client, clock: Any) -> None:
    """Read, burned and expired secrets get the very same page as one that never existed."""
    read, burned, expired = (create_secret(client, ttl=60) for _ in range(3))
    client.reveal(read.secret_key)
    client.post(f"/receipts/{burned.receipt_key}/burn")
    clock.advance(61)
    pages = [
        assert_page(client.get(f"/secrets/{key}", headers=BROWSER), 404)
        for key in (read.secret_key, burned.secret_key, expired.secret_key, "C" * 32)
    ]
    assert len(set(pages)) == 1


def test_rate_limited_pages_say_wait(make_client: MakeClient, db_url: str) -> None:
    """Past the limit, a page says so with 429 and Retry-After; JSON clients get JSON."""
    client = make_client(db_url, rate_limit="2/minute")
    for _ in range(2):
        client.get("/secrets/" + "A" * 32, headers=BROWSER)
    page = client.get("/secrets/" + "A" * 32, headers=BROWSER)
    assert "Too many requests" in assert_page(page, 429)
    assert int(page.headers["retry-after"]) > 0
    assert_error(client.get("/secrets/" + "A" * 32), 429, "rate_limited")


def test_share_page_and_static_files_are_not_rate_limited(
    make_client: MakeClient, db_url: str
) -> None:
    """The share page and its files touch no secret: they do not use up the limit."""
    client = make_client(db_url, rate_limit="2/minute")
    version = client.app.ctx.web.assets.version
    for _ in range(4):
        assert client.get("/", headers=BROWSER).status == 200
        assert client.get(f"/static/{version}/ots.css").status == 200
    assert client.get("/secrets/" + "A" * 32).status == 404


def test_share_page_offers_the_servers_lifetimes(make_client: MakeClient, db_url: str) -> None:
    """The ttl choice holds only lifetimes within the server's bounds, its default selected."""
    client = make_client(db_url, min_ttl=600, max_ttl=86400, default_ttl=5400)
    page = client.get("/", headers=BROWSER).text
    options = re.findall(r'<option value="(\d+)"( selected)?>([^<]+)</option>', page)
    assert [(int(value), label) for value, _, label in options] == [
        (3600, "1 hour"),
        (5400, "90 minutes"),
        (86400, "1 day"),
    ]
    assert [value for value, selected, _ in options if selected] == ["5400"]
    assert 'data-max-bytes="65536"' in page


LANGUAGES = {
    "german": ({"accept-language": "de-DE,de;q=0.9"}, "", "de", "Ein Geheimnis teilen"),
    "french": ({"accept-language": "fr"}, "", "fr", "Partager un secret"),
    "query-wins": ({"accept-language": "de"}, "?lang=fr", "fr", "Partager un secret"),
    "unknown": ({"accept-language": "ja"}, "", "en", "Share a secret"),
}


@pytest.mark.parametrize(
    ("headers", "query", "code", "title"), LANGUAGES.values(), ids=LANGUAGES.keys()
)
def test_pages_speak_the_readers_language(
    client: Client, headers: dict[str, str], query: str, code: str, title: str
) -> None:
    """Accept-Language picks the catalog; ?lang= overrides it and forms carry it on."""
    page = client.get(f"/{query}", headers={**BROWSER, **headers})
    assert title in assert_page(page, 200)
    assert page.headers["content-language"] == code
    assert f'<html lang="{code}">' in page.text
    assert 'action="/generate' + (f'?lang={code}"' if query else '"') in page.text
    script_text = re.search(
        r'<script type="application/json" id="ots-text">(.*?)</script>', page.text
    )
    assert script_text is not None
    assert "js.share.sealing" in json.loads(script_text.group(1))["messages"]


def test_language_switch_links_every_language(client: Client) -> None:
    """Each page links to itself in every language, the current one marked."""
    created = create_secret(client)
    page = client.get(f"/secrets/{created.secret_key}?lang=de", headers=BROWSER).text
    for code in ("en", "de", "fr"):
        assert f'href="/secrets/{created.secret_key}?lang={code}"' in page
    assert 'hreflang="de" data-keep-fragment aria-current="true"' in page


def test_web_off_serves_no_page(make_client: MakeClient, db_url: str) -> None:
    """OTS_WEB=false: JSON everywhere, no share page, no static files; /docs stays."""
    client = make_client(db_url, web=False)
    created = create_secret(client)
    assert_error(client.get("/", headers=BROWSER), 404, "not_found")
    status = client.get(f"/secrets/{created.secret_key}", headers=BROWSER)
    assert status.headers["content-type"] == "application/json"
    assert status.json["state"] == "pending"
    assert_error(client.get("/secrets/" + "A" * 32, headers=BROWSER), 404, "not_found")
    assert_error(client.get("/static/x/ots.css"), 404, "not_found")
    assert client.get("/docs").status == 200


def test_json_answers_keep_their_own_policy(client: Client) -> None:
    """A page's CSP is the page's; JSON errors of the same paths keep the JSON policy."""
    page = client.get("/secrets/" + "A" * 32, headers=BROWSER)
    assert page.headers["content-security-policy"] == PLAIN_POLICY
    response = client.get(
        "/secrets/" + "A" * 32, headers={"accept": BROWSER_ACCEPT.split(",")[0] + ";q=0"}
    )
    assert_error(response, 404, "not_found")


PAGE_OPERATIONS = {
    "generate_secret",
    "reveal_secret",
    "check_secret",
    "get_receipt",
    "burn_secret",
    "request_status",
}


@pytest.mark.parametrize("web", [True, False], ids=["web-on", "web-off"])
def test_the_openapi_document_tells_of_the_pages(
    make_client: MakeClient, db_url: str, web: bool
) -> None:
    """With pages on, their routes say so and list text/html after the JSON; off, nothing."""
    spec = make_client(db_url, web=web).get("/docs/openapi.json").json
    assert ("Pages for browsers (OTS_WEB)" in spec["info"]["description"]) is web
    for methods in spec["paths"].values():
        for operation in methods.values():
            paged = web and operation["operationId"] in PAGE_OPERATIONS
            assert ("description" in operation) is paged, operation["operationId"]
            for answer in operation["responses"].values():
                assert next(iter(answer["content"])) == "application/json"
                assert ("text/html" in answer["content"]) is paged
    if web:
        check = spec["paths"]["/secrets/{secret_key}"]["get"]["description"]
        assert "reveals and counts nothing" in check
        reveal = spec["paths"]["/secrets/{secret_key}"]["post"]["description"]
        assert "application/x-www-form-urlencoded" in reveal and "403 forbidden" in reveal


def test_other_methods_get_json_even_from_browsers(client: Client) -> None:
    """PUT, DELETE and a JSON POST are API requests, whatever the Accept: no page."""
    created = create_secret(client)
    assert_error(client.request("PUT", "/generate", headers=BROWSER), 405, "method_not_allowed")
    path = f"/secrets/{created.secret_key}"
    assert_error(client.request("DELETE", path, headers=BROWSER), 405, "method_not_allowed")
    wrong = client.post(path, headers=BROWSER, json={"passphrase": "wrong"})
    assert_error(wrong, 403, "wrong_passphrase")
    assert_page(client.get(path, headers=BROWSER), 200)
