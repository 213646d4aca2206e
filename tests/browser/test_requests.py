"""Requests (docs/request-v1.md) in Debian's Chromium: ask in the browser, answer, reveal.

Each direction crosses an implementation: a request made by the browser is
answered with the Python client and revealed in the browser; a request made
with the Python client is answered in the browser and revealed by the client.
Beside that: request.js against the document's test vectors, the refusals of
the answer page, a scanner that runs the scripts, and axe on every new page.
"""

from __future__ import annotations

import re
from typing import Any, Final

import httpx
import pytest

from ots import request, sealed
from ots.client import Client
from tests.browser.conftest import MAX_ATTEMPTS
from tests.browser.harness import (
    INSECURE_HOST,
    LiveServer,
    ServerProcess,
    Watch,
    Weight,
    decode_qr,
)
from tests.browser.test_flows import RECIPIENT_BUDGET, TRICKY, api_status, assert_accessible, key_of
from tests.unit.test_request import vectors

pytestmark = pytest.mark.slow

NOTE: Final = 'Our <b>staging</b> DB password, please\n<script>alert("x")</script>'
# (1, 1) is no point of P-256.
OFF_CURVE: Final = b"\x04" + (1).to_bytes(32, "big") * 2
# P-256's field prime: (x, P - y) is the point -Q, on the curve but not d·G.
P: Final = 2**256 - 2**224 + 2**192 + 2**96 - 1
# A plain page and its scripts, no WebAssembly: what the recipient page may weigh.
REQUEST_PAGE_BUDGET: Final = RECIPIENT_BUDGET


def ask_in_browser(page: Any, base: str, note: str = "") -> dict[str, str]:
    """Make a request on /ask; return the links the page shows."""
    page.goto(f"{base}/ask")
    if note:
        page.fill("#ask-note", note)
    page.select_option("#ask-ttl", "3600")
    page.click("#ask-submit")
    page.wait_for_selector("#ask-result:not([hidden])")
    return {
        name: page.input_value(f"#ask-{name}")
        for name in ("request-link", "answer-link", "receipt")
    }


def request_state(live: LiveServer, request_link: str) -> dict[str, Any]:
    """The JSON state of a request, as an API client asks."""
    body: dict[str, Any] = httpx.get(request_link.split("#", 1)[0]).json()
    return body


def test_asked_in_the_browser_answered_by_the_client_revealed_in_the_browser(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """The browser's key pair: the client answers its request link, its answer link reveals."""
    asker = new_context().new_page()
    weight = Weight()
    weight.attach(asker.context, asker)
    asker.goto(f"{live.base}/ask")
    assert_accessible(asker, "ask page")
    links = ask_in_browser(asker, live.base, NOTE)
    assert weight.total < REQUEST_PAGE_BUDGET, weight.by_url
    assert re.fullmatch(rf"{live.base}/requests/[\w-]+#r1\.[\w-]{{87}}", links["request-link"])
    assert re.fullmatch(rf"{live.base}/secrets/[\w-]+#r1\.[\w-]{{128}}", links["answer-link"])
    assert asker.is_hidden("#ask") and asker.is_visible("#ask-answer-warning")
    assert asker.evaluate("document.activeElement.id") == "ask-result-title"
    assert asker.evaluate("[sessionStorage.length, localStorage.length, document.cookie]") == [
        0,
        0,
        "",
    ]
    assert_accessible(asker, "ask result")
    assert decode_qr(asker.locator("#ask-qr").screenshot()) == [links["request-link"]]
    # Both links hold what ots.request reads: the public key and the key pair, which agree.
    parsed = request.parse_request_link(links["request-link"])
    answer_link = request.parse_answer_link(links["answer-link"])
    assert answer_link.asker.public_key == parsed.public_key
    assert request_state(live, links["request-link"])["note"] == NOTE

    with Client(live.base) as client:
        assert client.request_state(links["request-link"]).note == NOTE
        client.answer_request(links["request-link"], TRICKY)
    assert httpx.get(links["receipt"]).json()["state"] == "answered"

    recipient = new_context().new_page()
    recipient.goto(links["answer-link"])
    assert recipient.is_visible("#sealed-submit") and recipient.is_hidden("#passphrase-form")
    assert_accessible(recipient, "answer link, before reveal")
    assert api_status(live, key_of(links["answer-link"])).json()["state"] == "pending"
    recipient.click("#sealed-submit")
    recipient.wait_for_selector("#revealed:not([hidden])")
    assert recipient.input_value("#revealed-text") == TRICKY
    assert "#" not in recipient.url
    assert api_status(live, key_of(links["answer-link"])).status_code == 404
    assert httpx.get(links["receipt"]).json()["state"] == "revealed"
    watch.assert_clean(404)


def test_asked_by_the_client_answered_in_the_browser_revealed_by_the_client(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """The client's request link opens a page that seals in the browser; the client reveals."""
    with Client(live.base) as client:
        asked = client.create_request(note=NOTE, ttl=3600)
    answerer = new_context().new_page()
    weight = Weight()
    weight.attach(answerer.context, answerer)
    answerer.goto(asked.request_link)
    answerer.wait_for_selector("#answer-form:not([hidden])")
    assert weight.total < REQUEST_PAGE_BUDGET, weight.by_url
    # The note, exactly as written, as text: no element came of its markup.
    assert answerer.inner_text("#answer-note") == NOTE
    assert answerer.locator("#answer-note *").count() == 0
    assert_accessible(answerer, "answer page")
    answerer.fill("#answer-secret", TRICKY)
    answerer.click("#answer-submit")
    answerer.wait_for_selector("#answer-sent:not([hidden])")
    assert answerer.is_hidden("#answer") and answerer.input_value("#answer-secret") == ""
    assert answerer.evaluate("document.activeElement.id") == "answer-sent-title"
    assert_accessible(answerer, "answer sent")
    assert request_state(live, asked.request_link)["state"] == "answered"

    answerer.reload()
    assert "This request was already answered" in answerer.inner_text("main")
    assert answerer.locator("form").count() == 0
    assert_accessible(answerer, "request already answered")
    with Client(live.base) as client:
        assert client.reveal_answer(asked.answer_link) == TRICKY.encode()
    watch.assert_clean()


def test_the_answer_page_refuses_calmly(live: LiveServer, new_context: Any, watch: Watch) -> None:
    """No key, a point off the curve, too many bytes, a second answer, a gone request."""
    with Client(live.base) as client:
        asked = client.create_request(note="one", ttl=3600)
    bare = asked.request_link.split("#", 1)[0]
    off_curve = sealed.b64encode(OFF_CURVE)
    page = new_context().new_page()
    for link in (bare, f"{bare}#r1.{off_curve}", asked.request_link[:-5]):
        # A page of its own for each: a change of fragment alone would not load it again.
        page.goto("about:blank")
        page.goto(link)
        page.wait_for_selector("#answer-status:has-text('This link is incomplete')")
        assert page.is_hidden("#answer-form")
    assert_accessible(page, "answer page, incomplete link")

    page.goto(asked.request_link)
    page.wait_for_selector("#answer-form:not([hidden])")
    page.fill("#answer-secret", "é" * 32769)
    page.click("#answer-submit")
    page.wait_for_selector("#answer-status:has-text('at most 65536 bytes')")
    assert request_state(live, asked.request_link)["state"] == "open"

    # Another tab answers first: this one's answer is refused, and its form goes.
    other = new_context().new_page()
    other.goto(asked.request_link)
    other.fill("#answer-secret", "first")
    other.click("#answer-submit")
    other.wait_for_selector("#answer-sent:not([hidden])")
    page.fill("#answer-secret", "second")
    page.click("#answer-submit")
    page.wait_for_selector("#answer-status:has-text('Someone answered this request first')")
    assert page.is_hidden("#answer-form") and page.input_value("#answer-secret") == ""
    assert_accessible(page, "answer refused, already answered")
    with Client(live.base) as client:
        assert client.reveal_answer(asked.answer_link) == b"first"

    with Client(live.base) as client:
        burned = client.create_request(ttl=3600)
        page.goto(burned.request_link)
        page.wait_for_selector("#answer-form:not([hidden])")
        receipt = burned.receipt_key
        client.burn_secret(receipt)
    page.fill("#answer-secret", "too late")
    page.click("#answer-submit")
    page.wait_for_selector("#answer-status:has-text('This request does not exist')")
    page.goto(burned.request_link)
    assert "This request does not exist, or it is gone" in page.inner_text("main")
    assert_accessible(page, "request gone")
    watch.assert_clean(404, 409)


def test_an_answer_link_before_its_answer_says_why_it_may_be_missing(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Opened before the answer came, an answer link's page says the answer may not be there yet."""
    with Client(live.base) as client:
        asked = client.create_request(ttl=3600)
    page = new_context().new_page()
    page.goto(asked.answer_link)
    assert page.is_visible("#error-answer-hint")
    assert "the answer has not come yet" in page.inner_text("main")
    assert_accessible(page, "answer link, not answered yet")
    page.goto(asked.answer_link.split("#", 1)[0])
    assert page.is_hidden("#error-answer-hint")
    watch.assert_clean(404)


def test_the_browsers_request_v1_reproduces_the_test_vectors(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """request.js, run in the page under its CSP, gives docs/request-v1.md's vectors exactly."""
    page = new_context().new_page()
    page.goto(f"{live.base}/ask")
    module = page.evaluate("document.querySelector('script[type=module]').src")
    cases = []
    for vector in vectors():
        point = bytes.fromhex(vector["public_key"])
        y = int.from_bytes(point[33:], "big")
        negated = (
            bytes.fromhex(vector["private_scalar"]) + point[1:33] + (P - y).to_bytes(32, "big")
        )
        cases.append({**vector, "negated": negated.hex()})
    results = page.evaluate(
        """async ([url, vectors, offCurve]) => {
            const request = await import(url.replace("ask.js", "request.js"));
            const hex = (bytes) =>
                Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
            const bytes = (text) =>
                Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
            const refused = async (work) => {
                try { await work(); return false; } catch { return true; }
            };
            const out = [];
            for (const v of vectors) {
                const point = bytes(v.public_key);
                const privateKey = new Uint8Array([...bytes(v.private_scalar), ...point.slice(1)]);
                const asker = await request.askerOf(privateKey);
                const ephemeral = new Uint8Array(
                    [...bytes(v.ephemeral_scalar), ...bytes(v.ephemeral_public_key).slice(1)]);
                const body = await request.sealAnswer(bytes(v.plaintext), point,
                    { ephemeral, nonce: bytes(v.nonce) });
                const link = await request.parseRequestFragment(v.request_link.split("#")[1]);
                const fromLink = request.parseAnswerFragment(v.answer_link.split("#")[1]);
                const opened = await request.openAnswer(v.answer_body, asker);
                out.push({
                    proof: hex(asker.proof), verifier: hex(asker.verifier),
                    request_fragment: request.requestFragment(asker),
                    answer_fragment: request.answerFragment(asker),
                    body, link_key: hex(link.publicKey), from_link: hex(fromLink),
                    opened: hex(opened),
                    negated: await refused(() => request.askerOf(bytes(v.negated))),
                    zero: await refused(() => request.askerOf(new Uint8Array(96))),
                    altered: await refused(() => request.openAnswer(
                        { ...v.answer_body, ciphertext: "A" + v.answer_body.ciphertext.slice(1) },
                        asker)),
                    sealed_v1: await refused(() => request.openAnswer(
                        { ...v.answer_body, envelope: { ...v.answer_body.envelope, v: 1 } },
                        asker)),
                });
            }
            return { out, offCurve: await request.parseRequestFragment(offCurve) };
        }""",
        [module, cases, f"r1.{sealed.b64encode(OFF_CURVE)}"],
    )
    assert results["offCurve"] is None
    for vector, result in zip(vectors(), results["out"], strict=True):
        assert result["proof"] == vector["proof"], vector["name"]
        assert result["verifier"] == vector["verifier"]
        assert result["request_fragment"] == vector["request_link"].split("#", 1)[1]
        assert result["answer_fragment"] == vector["answer_link"].split("#", 1)[1]
        assert result["body"] == vector["answer_body"]
        assert result["link_key"] == vector["public_key"]
        assert result["from_link"] == vector["private_scalar"] + vector["public_key"][2:]
        assert result["opened"] == vector["plaintext"]
        assert result["negated"] and result["zero"]
        assert result["altered"] and result["sealed_v1"]
    watch.assert_clean()


def test_a_headless_scanner_on_request_links_changes_nothing(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Request and answer links loaded with their scripts, never clicked: all stays as it was."""
    with Client(live.base) as client:
        open_request = client.create_request(note="scan me")
        answered = client.create_request()
        client.answer_request(answered.request_link, "unread")
    scanner = new_context(user_agent="Mozilla/5.0 (compatible; Safe Links scanner)").new_page()
    links = [open_request.request_link, answered.request_link, answered.answer_link]
    for url in [f"{live.base}/ask", *links, open_request.answer_link]:
        scanner.goto(url, wait_until="networkidle")
        scanner.wait_for_timeout(200)
    assert request_state(live, open_request.request_link)["state"] == "open"
    status = api_status(live, key_of(answered.answer_link)).json()
    assert (status["state"], status["attempts_left"]) == ("pending", MAX_ATTEMPTS)
    with Client(live.base) as client:
        assert client.reveal_answer(answered.answer_link) == b"unread"
    watch.assert_clean(404)


def test_without_javascript_the_request_pages_say_why(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """JavaScript off: /ask and the answer page say, calmly, that they need it; nothing to post."""
    with Client(live.base) as client:
        asked = client.create_request(note="no script")
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{live.base}/ask")
    assert "This page needs JavaScript" in page.inner_text("main")
    assert page.is_hidden("#ask-form")
    assert_accessible(page, "ask page, no JavaScript", scripts=False)
    page.goto(asked.request_link)
    assert "This page needs JavaScript" in page.inner_text("main")
    assert page.inner_text("#answer-note") == "no script" and page.is_hidden("#answer-form")
    assert_accessible(page, "answer page, no JavaScript", scripts=False)
    watch.assert_clean()


def test_plain_http_on_another_host_says_the_keys_cannot_be_made(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Without a secure context (no WebCrypto) neither page offers its form, and says why."""
    base = live.base.replace("127.0.0.1", INSECURE_HOST)
    with Client(live.base) as client:
        asked = client.create_request()
    page = new_context().new_page()
    page.goto(f"{base}/ask")
    assert "not served over HTTPS" in page.inner_text("#ask-status")
    assert page.is_hidden("#ask-form")
    page.goto(asked.request_link.replace("127.0.0.1", INSECURE_HOST))
    page.wait_for_selector("#answer-status:has-text('not served over HTTPS')")
    assert page.is_hidden("#answer-form")
    watch.assert_clean(insecure_origin=True)


def test_token_mode_ask_with_the_kept_token(
    token_live: ServerProcess, new_context: Any, watch: Watch
) -> None:
    """Where creating needs a token, /ask needs one: refused without, kept for the tab with it."""
    token = token_live.issue_token("asker")
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    page.goto(f"{token_live.base}/ask")
    assert page.evaluate("document.getElementById('token').required")
    page.fill("#token", "ots_1_" + "A" * 43)
    page.click("#ask-submit")
    page.wait_for_selector("#ask-status:has-text('This API token is not valid')")
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#token", token)
    page.click("#ask-submit")
    page.wait_for_selector("#ask-result:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('ots.token')") == token
    assert token not in page.url and token not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, "ask result, token mode, 320 px")
    page.click("a[href='/ask']:has-text('Ask for another secret')")
    page.wait_for_selector("#ask-form:not([hidden])")
    assert page.is_visible("#token-kept") and page.is_hidden("#token-field")
    watch.assert_clean(401)
