"""The pages of requests over HTTP, on both databases: ``/ask``, and a request link in a browser.

What the browser does on them (keys, sealing, revealing) is in
tests/browser/test_requests.py; here, what the server sends and that a GET changes nothing.
"""

from __future__ import annotations

import re

import pytest

from ots import sealed
from tests.api.test_requests import answer, ask
from tests.conftest import Client, MakeClient
from tests.support import BROWSER, FakeClock, assert_error, assert_page
from tests.web.test_pages import API_ACCEPTS, PLAIN_POLICY, _Markup, compact

NOTE = 'the <script>alert("x")</script> & <b>DB</b> password,\nplease'


@pytest.mark.parametrize("accept", API_ACCEPTS.values(), ids=API_ACCEPTS.keys())
def test_api_clients_get_the_request_json_byte_for_byte(client: Client, accept: str | None) -> None:
    """Whatever an API client accepts, GET /requests/{key} is the JSON; a browser gets a page."""
    _, created = ask(client, note=NOTE, ttl=600)
    path = f"/requests/{created['request_key']}"
    expected = compact(
        {
            "state": "open",
            "expires_at": created["expires_at"],
            "max_secret_bytes": 65536,
            "note": NOTE,
            "answered_at": None,
        }
    )
    headers = {} if accept is None else {"accept": accept}
    response = client.get(path, headers=headers)
    assert response.content == expected
    assert response.headers["content-type"] == "application/json"
    assert "vary" not in response.headers
    head = client.request("HEAD", path, headers=headers)
    assert head.headers["content-type"] == "application/json"
    assert client.get(path, headers=BROWSER).headers["content-type"] == "text/html; charset=utf-8"
    unknown = client.get("/requests/" + "A" * 32, headers=headers)
    assert_error(unknown, 404, "not_found")


def test_the_answer_page_shows_the_note_as_text(client: Client) -> None:
    """The note is escaped text, never markup; the form is for the script, with the limits."""
    _, created = ask(client, note=NOTE)
    key = created["request_key"]
    page = client.get(f"/requests/{key}", headers=BROWSER)
    text = assert_page(page, 200)
    assert "Someone asks you for a secret" in text
    assert NOTE.replace("\n", " ") in text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;DB&lt;/b&gt;" in page.text
    )
    assert "<script>alert" not in page.text and "<b>DB" not in page.text
    assert page.headers["content-security-policy"] == PLAIN_POLICY
    assert f'data-action="/requests/{key}/answer"' in page.text
    assert 'data-max-bytes="65536"' in page.text
    assert re.search(r'<form id="answer-form"[^>]* hidden>', page.text)
    assert "This page needs JavaScript" in text
    assert re.search(r'<script type="module" src="/static/\w+/js/answer\.js">', page.text)
    parser = _Markup()
    parser.feed(page.text)
    assert parser.inline == []


def test_an_answered_request_says_so_calmly(client: Client) -> None:
    """Once answered, the link's page says so, with no form and no note; the JSON agrees."""
    asker, created = ask(client, note=NOTE)
    path = f"/requests/{created['request_key']}"
    assert answer(client, created["request_key"], asker, b"first").status == 201
    page = client.get(path, headers=BROWSER)
    text = assert_page(page, 200)
    assert "This request was already answered" in text
    assert "Only the first answer is kept" in text
    assert "answer-form" not in page.text and "alert" not in page.text
    assert client.get(path).json["state"] == "answered"


def test_unknown_expired_and_burned_requests_read_the_same(
    client: Client, clock: FakeClock
) -> None:
    """Unknown, expired or burned: a 404 page with one calm sentence, the same for each."""
    _, expired = ask(client, ttl=60)
    _, burned = ask(client, ttl=3600)
    burn = client.post(f"/receipts/{burned['receipt_key']}/burn")
    assert burn.status == 200, burn.text
    clock.advance(61)
    pages = []
    for key in (expired["request_key"], burned["request_key"], "C" * 32):
        page = client.get(f"/requests/{key}", headers=BROWSER)
        text = assert_page(page, 404)
        assert "This request does not exist, or it is gone" in text
        assert "answer-form" not in page.text
        assert_error(client.get(f"/requests/{key}"), 404, "not_found")
        pages.append(text)
    assert len(set(pages)) == 1


def test_an_answer_link_before_its_answer_gets_a_hint(client: Client) -> None:
    """The answer's secret page is a 404 until the answer comes; the page holds a hint for r1."""
    _, created = ask(client)
    page = client.get(f"/secrets/{created['answer_key']}", headers=BROWSER)
    assert "This secret does not exist, or it is gone" in assert_page(page, 404)
    assert re.search(r'<p [^>]*data-fragment-hint="r1\."[^>]* hidden>', page.text)
    receipt = client.get("/receipts/" + "B" * 32, headers=BROWSER)
    assert "data-fragment-hint" not in receipt.text


def test_the_ask_page(client: Client) -> None:
    """/ask is a page for browsers only, linked from the share page, with a form for its script."""
    share = client.get("/", headers=BROWSER)
    assert re.search(r'<a class="ask-link" href="/ask">Ask for a secret</a>', share.text)
    page = client.get("/ask", headers=BROWSER)
    text = assert_page(page, 200)
    assert page.headers["content-security-policy"] == PLAIN_POLICY
    assert "Ask for a secret" in text and "This page needs JavaScript" in text
    # Hidden without JavaScript, and nothing it could post: no action, no field names.
    assert re.search(r'<form id="ask-form" class="card" hidden>', page.text)
    assert " name=" not in page.text.split('id="ask-form"', 1)[1].split("</form>", 1)[0]
    assert 'maxlength="500"' in page.text and 'id="ask-ttl"' in page.text
    assert 'aria-current="page">Ask for a secret' in page.text
    assert re.search(r'<script type="module" src="/static/\w+/js/ask\.js">', page.text)
    parser = _Markup()
    parser.feed(page.text)
    assert parser.inline == []
    assert_error(client.get("/ask"), 404, "not_found")
    german = client.get("/ask?lang=de", headers=BROWSER)
    assert "Um ein Geheimnis bitten" in assert_page(german, 200)


def test_the_ask_page_asks_for_a_token_where_one_is_needed(
    make_client: MakeClient, db_url: str
) -> None:
    """Where creating needs a token, so does asking: its field is required, and never filled."""
    client = make_client(db_url, create_access="token")
    page = client.get("/ask", headers=BROWSER)
    assert_page(page, 200)
    assert re.search(r'<input id="token" type="password" required', page.text)


def test_loading_request_pages_changes_nothing(client: Client) -> None:
    """Any number of page loads and HEADs leave the request open, then its answer unread."""
    asker, created = ask(client, note="n")
    key, receipt = created["request_key"], created["receipt_key"]
    paths = ["/ask", f"/requests/{key}", f"/secrets/{created['answer_key']}"]
    for _ in range(3):
        for method in ("GET", "HEAD"):
            for path in paths:
                assert client.request(method, path, headers=BROWSER).status in (200, 404)
    assert client.get(f"/requests/{key}").json["state"] == "open"
    assert client.get(f"/receipts/{receipt}").json["state"] == "requested"
    assert answer(client, key, asker, b"still open").status == 201
    for _ in range(3):
        for path in paths:
            assert client.get(path, headers=BROWSER).status == 200
    status = client.get(f"/secrets/{created['answer_key']}").json
    assert (status["state"], status["attempts_left"]) == ("pending", 5)
    proof = {"proof": sealed.b64encode(asker.proof)}
    assert client.post(f"/secrets/{created['answer_key']}", json=proof).status == 200


def test_web_off_leaves_the_request_json_only(make_client: MakeClient, db_url: str) -> None:
    """OTS_WEB=false: a browser gets the request's JSON, and /ask is no page."""
    client = make_client(db_url, web=False)
    _, created = ask(client, note=NOTE)
    status = client.get(f"/requests/{created['request_key']}", headers=BROWSER)
    assert status.headers["content-type"] == "application/json"
    assert status.json["note"] == NOTE
    assert_error(client.get("/ask", headers=BROWSER), 404, "not_found")
    assert_error(client.get("/requests/" + "A" * 32, headers=BROWSER), 404, "not_found")
