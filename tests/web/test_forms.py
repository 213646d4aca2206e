"""Plain HTML forms (no JavaScript): share and reveal a passphrase secret, on both databases."""

from __future__ import annotations

import re
from fractions import Fraction
from urllib.parse import urlencode

import pytest

from ots import sealed
from tests.conftest import Client, MakeClient
from tests.support import BROWSER, FORM, assert_error, assert_page, count_rows, create_secret

TRICKY = "line one\nzwei: é ü ß\ttab 😀 \u200b end"


def form(**fields: str) -> bytes:
    """An urlencoded body, as a browser sends a form in UTF-8."""
    return urlencode(fields).encode()


def reveal_form(client: Client, key: str, passphrase: str) -> object:
    """Post the recipient page's form."""
    return client.post(f"/secrets/{key}", headers=FORM, content=form(passphrase=passphrase))


def revealed_text(html: str) -> str:
    """The secret in the revealed page's text area, as a browser reads it.

    Unescaped, and without the one line break that may follow ``<textarea>``:
    HTML's parser drops it.
    """
    import html as markup

    found = re.search(r'<textarea id="revealed-text"[^>]*>(.*?)</textarea>', html, re.S)
    assert found is not None
    text = found.group(1)
    return markup.unescape(text[1:] if text.startswith("\n") else text)


def test_reveal_with_a_form_once(client: Client) -> None:
    """The right passphrase shows the exact secret once; the next post is the calm 404."""
    created = create_secret(client, secret=TRICKY, passphrase="pässwörd")
    page = reveal_form(client, created.secret_key, "pässwörd")
    assert "It is now gone from the server" in assert_page(page, 200)
    assert revealed_text(page.text) == TRICKY
    again = reveal_form(client, created.secret_key, "pässwörd")
    assert "This secret does not exist, or it is gone" in assert_page(again, 404)
    assert_error(client.reveal(created.secret_key, "pässwörd"), 404, "not_found")
    receipt = client.get(f"/receipts/{created.receipt_key}").json
    assert receipt["state"] == "revealed"


def test_a_secret_that_starts_with_a_line_break_keeps_it(client: Client) -> None:
    """The text area holds the exact secret, a leading line break included."""
    created = create_secret(client, secret="\n\nindented", passphrase="pw")
    page = reveal_form(client, created.secret_key, "pw")
    assert_page(page, 200)
    assert revealed_text(page.text) == "\n\nindented"


def test_a_form_and_the_api_share_one_reveal(client: Client) -> None:
    """Revealed by the API first, the form gets the 404: it is one secret, read once."""
    created = create_secret(client)
    assert client.reveal(created.secret_key).json == {"secret": "s3cret"}
    assert_page(reveal_form(client, created.secret_key, "pass"), 404)


def test_wrong_passphrases_count_down_to_destruction(make_client: MakeClient, db_url: str) -> None:
    """Each wrong form post says the attempts left, as the API counts them; the last destroys."""
    client = make_client(db_url, max_attempts=3)
    created = create_secret(client)
    for left in (2, 1):
        page = reveal_form(client, created.secret_key, "wrong")
        text = assert_page(page, 403)
        expected = f"Wrong passphrase: {left} attempt{'s' if left > 1 else ''} left."
        assert expected in text
        assert 'name="passphrase"' in page.text
        assert client.get(f"/secrets/{created.secret_key}").json["attempts_left"] == left
    last = reveal_form(client, created.secret_key, "wrong")
    assert "That was the last attempt: the secret is destroyed." in assert_page(last, 403)
    assert 'name="passphrase"' not in last.text
    assert_page(reveal_form(client, created.secret_key, "pass"), 404)
    assert client.get(f"/receipts/{created.receipt_key}").json["state"] == "burned"


def test_a_sealed_secret_is_not_opened_by_the_form(client: Client) -> None:
    """A passphrase posted for a sealed secret: a sentence, 409, and nothing counted."""
    secret = sealed.seal(b"sealed")
    created = client.post("/generate", json=secret.request()).json
    page = reveal_form(client, created["secret_key"], "guess")
    assert "This secret is sealed" in assert_page(page, 409)
    assert client.get(f"/secrets/{created['secret_key']}").json["attempts_left"] == 5


def test_share_with_a_form(client: Client) -> None:
    """The share form stores the secret; the page shows its link, receipt and expiry."""
    body = form(secret=TRICKY.replace("\n", "\r\n"), passphrase="pw", ttl="3600", mode="passphrase")
    page = client.post("/generate", headers=FORM, content=body)
    text = assert_page(page, 201)
    assert "Your link is ready" in text
    assert "They also need the passphrase" in text
    link = re.search(r'id="result-link"[^>]*value="([^"]+)"', page.text)
    receipt = re.search(r'id="result-receipt"[^>]*value="([^"]+)"', page.text)
    assert link is not None and receipt is not None
    base = f"http://{client.inner.host}:{client.inner.port}"
    assert link.group(1).startswith(f"{base}/secrets/")
    assert receipt.group(1).startswith(f"{base}/receipts/")
    key = link.group(1).rsplit("/", 1)[1]
    status = client.get(f"/secrets/{key}").json
    assert status["state"] == "pending"
    assert f'datetime="{status["expires_at"]}"' in page.text
    # The browser sent the text area's line breaks as CRLF; the secret has the LF typed.
    assert client.reveal(key, "pw").json == {"secret": TRICKY}
    assert "data-qr-for" in page.text


def test_a_form_share_counts_against_the_clients_share(
    make_client: MakeClient, db_url: str
) -> None:
    """Shared with the form or the JSON API, a client's secrets fill one share; 507 then."""
    client = make_client(
        db_url, max_secret_bytes=1000, max_stored_bytes=18000, client_share=Fraction(1, 8)
    )
    body = form(secret="x" * 1000, passphrase="p", mode="passphrase")
    assert client.post("/generate", headers=FORM, content=body).status == 201
    assert create_secret(client, "x" * 1000, "p").secret_key
    assert_page(client.post("/generate", headers=FORM, content=body), 507)
    assert count_rows(db_url) == 2


BAD_FORMS = {
    "no-passphrase": form(secret="s"),
    "empty-passphrase": form(secret="s", passphrase=""),
    "empty-secret": form(secret="", passphrase="p"),
    "no-secret": form(passphrase="p"),
    "ttl-text": form(secret="s", passphrase="p", ttl="soon"),
    "ttl-negative": form(secret="s", passphrase="p", ttl="-5"),
    "ttl-too-long": form(secret="s", passphrase="p", ttl="99999999999"),
    "ttl-huge": form(secret="s", passphrase="p", ttl="9" * 40),
    "passphrase-too-long": form(secret="s", passphrase="p" * 1025),
    "not-utf8": b"secret=%FF%FE&passphrase=p",
    "too-many-fields": b"&".join(b"f%d=1" % n for n in range(40)),
    "empty": b"",
}


@pytest.mark.parametrize("body", BAD_FORMS.values(), ids=BAD_FORMS.keys())
def test_a_bad_share_form_stores_nothing(client: Client, db_url: str, body: bytes) -> None:
    """Whatever the form lacks or holds, one calm page (422) and no secret stored."""
    page = client.post("/generate", headers=FORM, content=body)
    assert "The form was not filled in completely" in assert_page(page, 422)
    assert count_rows(db_url) == 0


def test_a_secret_too_large_for_the_server(make_client: MakeClient, db_url: str) -> None:
    """Over OTS_MAX_SECRET_BYTES (in UTF-8 bytes): 413, said as such."""
    client = make_client(db_url, max_secret_bytes=10)
    page = client.post("/generate", headers=FORM, content=form(secret="é" * 6, passphrase="p"))
    assert "too large" in assert_page(page, 413)
    assert count_rows(db_url) == 0


BAD_REVEALS = {
    "no-passphrase": b"",
    "empty-passphrase": form(passphrase=""),
    "too-long": form(passphrase="p" * 1025),
    "not-utf8": b"passphrase=%C3%28",
}


@pytest.mark.parametrize("body", BAD_REVEALS.values(), ids=BAD_REVEALS.keys())
def test_a_bad_reveal_form_counts_nothing(client: Client, body: bytes) -> None:
    """A reveal form without a usable passphrase: 422, and no attempt used."""
    created = create_secret(client)
    page = client.post(f"/secrets/{created.secret_key}", headers=FORM, content=body)
    assert_page(page, 422)
    assert client.get(f"/secrets/{created.secret_key}").json["attempts_left"] == 5


def test_forms_from_api_clients_stay_api_requests(client: Client) -> None:
    """An urlencoded post that does not ask for HTML (curl -d) gets the JSON it always got."""
    created = create_secret(client)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert_error(
        client.post("/generate", headers=headers, content=form(secret="s", passphrase="p")),
        400,
        "invalid_json",
    )
    response = client.post(
        f"/secrets/{created.secret_key}", headers=headers, content=form(passphrase="pass")
    )
    assert_error(response, 400, "invalid_json")
    as_browser = client.post("/generate", headers=FORM, content=form(secret="s", passphrase="p"))
    assert_page(as_browser, 201)
    json_body = client.post("/generate", headers=BROWSER, json={"secret": "s", "passphrase": "p"})
    assert json_body.status == 201
    assert json_body.headers["content-type"] == "application/json"


def test_burn_from_the_receipt_page(client: Client) -> None:
    """The receipt page's form burns a pending secret, once the box is ticked."""
    created = create_secret(client)
    receipt_path = f"/receipts/{created.receipt_key}"
    assert 'id="burn-form"' in client.get(receipt_path, headers=BROWSER).text
    unticked = client.post(f"{receipt_path}/burn", headers=FORM, content=b"")
    assert_page(unticked, 422)
    assert client.get(f"/secrets/{created.secret_key}").status == 200
    burned = client.post(f"{receipt_path}/burn", headers=FORM, content=form(confirm="yes"))
    assert "Burned: the secret was destroyed" in assert_page(burned, 200)
    assert 'id="burn-form"' not in burned.text
    assert_error(client.get(f"/secrets/{created.secret_key}"), 404, "not_found")
    again = client.post(f"{receipt_path}/burn", headers=FORM, content=form(confirm="yes"))
    assert "can no longer be burned" in assert_page(again, 409)


CROSS_SITE = {
    "sec-fetch-site": {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
    "foreign-origin": {"origin": "https://evil.example"},
}


@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_a_form_posted_from_another_site_does_nothing(
    client: Client, headers: dict[str, str]
) -> None:
    """Another site's form reveals nothing and counts nothing: 403, as a page.

    The refusal itself is the app-wide cross-site check (OTS_CORS_ORIGINS); this
    proves the form posts go through it.
    """
    created = create_secret(client)
    page = reveal_form_with(client, created.secret_key, "wrong", headers)
    assert "not allowed" in assert_page(page, 403)
    right = reveal_form_with(client, created.secret_key, "pass", headers)
    assert_page(right, 403)
    shared = client.post(
        "/generate", headers={**FORM, **headers}, content=form(secret="s", passphrase="p")
    )
    assert_page(shared, 403)
    status = client.get(f"/secrets/{created.secret_key}").json
    assert (status["state"], status["attempts_left"]) == ("pending", 5)


def reveal_form_with(client: Client, key: str, passphrase: str, headers: dict[str, str]) -> object:
    """Post the reveal form with extra headers (another site's)."""
    return client.post(
        f"/secrets/{key}", headers={**FORM, **headers}, content=form(passphrase=passphrase)
    )
