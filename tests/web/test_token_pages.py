"""The pages where creating needs a token: the share form's token field, and "My secrets".

On both databases. A form post cannot send a header, so the share form's
``token`` field stands in for ``Authorization: Bearer``; whatever it holds never
comes back in a page nor reaches a log line. ``/my-secrets`` is a page only: its
script lists the token's secrets through ``GET /tokens/self/secrets``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import urlencode

import pytest

from ots.access import TokenAdmin
from ots.events import AUDIT_LOGGER
from ots.tokens import IssuedToken, TokenLimits
from tests.conftest import Client, MakeClient
from tests.support import BROWSER, FORM, FakeClock, assert_error, assert_page, count_rows

NETWORK: Final = "10.0.0.0/8"
INSIDE: Final = {"X-Forwarded-For": "10.1.2.3"}
PLAIN_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECRET: Final = "line one\nzwei: äöü"
PASSPHRASE: Final = "form passphrase"
NEEDED: Final = "This server creates secrets only for holders of an API token: enter yours."
INVALID: Final = "This API token is not valid: it is unknown, revoked or expired."


def token_client(make_client: MakeClient, db_url: str, mode: str, **more: Any) -> Client:
    """A server in ``mode``, behind one trusted proxy, whose networks are NETWORK."""
    networks = NETWORK if mode in ("network", "token_or_network") else ""
    return make_client(
        db_url, create_access=mode, create_networks=networks, proxies_count=1, **more
    )


def issue(client: Client, clock: FakeClock) -> IssuedToken:
    """Make a token on ``client``'s database, as ``ots tokens add`` does."""
    admin = TokenAdmin(client.context.tokens, client.context.keys, clock)
    return client.run(admin.add("web", None, TokenLimits()))


def share_form(client: Client, headers: dict[str, str] | None = None, **fields: str) -> Any:
    """Post the share form (no JavaScript): the secret, the passphrase and ``fields``."""
    body = urlencode({"secret": SECRET, "passphrase": PASSPHRASE, "ttl": "3600", **fields})
    return client.post("/generate", headers={**FORM, **(headers or {})}, content=body.encode())


def listed(client: Client, token: IssuedToken) -> list[dict[str, Any]]:
    """The token's own list, as the API gives it."""
    response = client.get("/tokens/self/secrets", headers={"Authorization": f"Bearer {token.text}"})
    assert response.status == 200, response.text
    secrets: list[dict[str, Any]] = response.json["secrets"]
    return secrets


# Mode -> whether the share page requires a token from outside / inside the networks.
REQUIRED: Final = {
    "open": (False, False),
    "token": (True, True),
    "network": (False, False),
    "token_or_network": (True, False),
}


@pytest.mark.parametrize("mode", REQUIRED, ids=REQUIRED)
def test_the_share_page_asks_for_a_token_where_one_is_needed(
    make_client: MakeClient, db_url: str, mode: str
) -> None:
    """A required field where this client needs a token; elsewhere an optional disclosure."""
    client = token_client(make_client, db_url, mode)
    for headers, required in zip(({}, INSIDE), REQUIRED[mode], strict=True):
        page = client.get("/", headers={**BROWSER, **headers})
        assert_page(page, 200)
        field = re.search(r'<input id="token" name="token"[^>]*>', page.text)
        assert field is not None
        assert 'type="password"' in field.group(0)
        assert 'autocomplete="off"' in field.group(0)
        assert (" required" in field.group(0)) is required, (mode, headers)
        assert ('<details class="field" id="token-field"' in page.text) is not required
        assert 'id="token-kept" class="note kept" hidden' in page.text
    # The header links to the token holders' page where tokens are in use.
    assert ('class="mine-link" href="/my-secrets"' in page.text) is (mode != "open")


def test_the_form_token_creates_where_a_token_is_needed(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """The right token in the form: 201, the links, the secret on the token's list."""
    client = token_client(make_client, db_url, "token")
    token = issue(client, clock)
    page = share_form(client, token=f"  {token.text} ")
    text = assert_page(page, 201)
    assert "Your link is ready" in text and "See it among your secrets" in text
    assert token.text not in page.text
    assert '<p id="result-mine">' in page.text
    link = re.search(r'id="result-link" type="text" readonly value="([^"]+)"', page.text)
    assert link is not None
    assert [entry["state"] for entry in listed(client, token)] == ["pending"]
    key = link.group(1).rsplit("/", 1)[1]
    assert client.reveal(key, PASSPHRASE).json == {"secret": SECRET}


@pytest.mark.parametrize("mode", ["token", "open"])
def test_a_wrong_form_token_is_a_401_page_without_it(
    make_client: MakeClient, db_url: str, clock: FakeClock, mode: str
) -> None:
    """A wrong token (even on an open instance): the form again, as typed but for the secrets."""
    client = token_client(make_client, db_url, mode)
    token = issue(client, clock)
    wrong = token.text[:-4] + ("AAAA" if not token.text.endswith("AAAA") else "BBBB")
    page = share_form(client, token=wrong, ttl="86400")
    text = assert_page(page, 401)
    assert page.headers["www-authenticate"].startswith("Bearer")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert INVALID in text
    assert wrong not in page.text and token.text not in page.text
    assert PASSPHRASE not in page.text
    # What the user typed stays: the secret and the lifetime; the token field is empty.
    assert f'spellcheck="false">\n{SECRET}</textarea>' in page.text
    assert '<option value="86400" selected>' in page.text
    field = re.search(r'<input id="token"[^>]*>', page.text)
    assert field is not None
    assert 'aria-invalid="true"' in field.group(0) and "value=" not in field.group(0)
    assert count_rows(db_url) == 0
    assert listed(client, token) == []


def test_no_form_token_in_token_mode_is_a_401_page(make_client: MakeClient, db_url: str) -> None:
    """Token mode, no token (an empty field, or none at all): 401, one sentence, nothing stored."""
    client = token_client(make_client, db_url, "token")
    for fields in ({"token": "   "}, {}):
        page = share_form(client, **fields)
        assert NEEDED in assert_page(page, 401)
        assert page.headers["www-authenticate"].startswith("Bearer")
    assert count_rows(db_url) == 0


def test_no_form_token_is_needed_inside_the_networks(make_client: MakeClient, db_url: str) -> None:
    """token_or_network: from inside the networks the form creates without a token."""
    client = token_client(make_client, db_url, "token_or_network")
    assert_page(share_form(client, INSIDE), 201)
    assert NEEDED in assert_page(share_form(client), 401)
    assert count_rows(db_url) == 1


def test_the_token_field_is_read_for_the_form_post_only(
    make_client: MakeClient, db_url: str, clock: FakeClock
) -> None:
    """A JSON create names its token in the header: a ``token`` in its body is no token."""
    client = token_client(make_client, db_url, "token")
    token = issue(client, clock)
    body = {"secret": "s", "passphrase": "p", "token": token.text}
    assert client.post("/generate", json=body).status in (401, 422)
    assert count_rows(db_url) == 0
    # The field wins over a header the browser may add (a proxy's Basic credentials).
    page = share_form(client, {"Authorization": "Basic dXNlcjpwdw=="}, token=token.text)
    assert_page(page, 201)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line written while the test runs, formatted, from every ots and Sanic logger."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record) + repr(record.__dict__))

    handler = Collect(logging.DEBUG)
    names = ("", "sanic.access", "sanic.root", "sanic.error", "sanic.server", "ots", AUDIT_LOGGER)
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
    logging.getLogger("sanic.access").setLevel(logging.DEBUG)
    yield lines
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_form_token_reaches_no_log_line(
    make_client: MakeClient, db_url: str, clock: FakeClock, log_lines: list[str]
) -> None:
    """Right or wrong, the token typed into the form is in no access or audit line."""
    client = token_client(make_client, db_url, "token", access_log=True)
    token = issue(client, clock)
    assert_page(share_form(client, token=token.text), 201)
    assert_page(share_form(client, token=token.text + "x"), 401)
    named = f'"token":{token.token.id}'
    assert any('"event":"created"' in line and named in line for line in log_lines)
    assert any("/generate" in line for line in log_lines), "the access log is on"
    secret_part = token.text.split("_", 2)[2]
    assert [line for line in log_lines if secret_part in line] == []


def test_my_secrets_is_a_page_for_browsers_only(make_client: MakeClient, db_url: str) -> None:
    """``/my-secrets``: a plain page, no-store, its noscript sentence; JSON clients get the 404."""
    client = token_client(make_client, db_url, "token", rate_limit="2/minute")
    for _ in range(3):  # it touches no secret: not rate limited
        page = client.get("/my-secrets", headers=BROWSER)
        text = assert_page(page, 200)
    assert page.headers["content-security-policy"] == PLAIN_POLICY
    assert page.headers["vary"] == "Accept, Accept-Language"
    assert "My secrets" in text and "ots list" in text
    assert "This page needs JavaScript" in text
    assert '<form id="token-form" class="card" hidden>' in page.text
    # The field the script shows is never posted: it has no name.
    assert re.search(r'<input id="token" type="password" required', page.text)
    assert 'href="/my-secrets" aria-current="page"' in page.text
    assert_error(client.get("/my-secrets"), 404, "not_found")
    assert client.request("HEAD", "/my-secrets", headers=BROWSER).status == 200
    german = client.get("/my-secrets?lang=de", headers=BROWSER)
    assert "Meine Geheimnisse" in assert_page(german, 200)


def test_no_my_secrets_page_without_pages(make_client: MakeClient, db_url: str) -> None:
    """OTS_WEB=false: /my-secrets is no path at all."""
    client = make_client(db_url, web=False)
    assert_error(client.get("/my-secrets", headers=BROWSER), 404, "not_found")
