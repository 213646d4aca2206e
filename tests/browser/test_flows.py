"""Every flow of the pages in Debian's Chromium, and what the pages promise beside them.

Share, open, reveal and refuse; beside that: the CSP, accessibility, weight,
keyboard, 320 px and dark mode.

Each test opens fresh browser contexts (the sender's and the recipient's do not
share a cache or storage), and ends by checking that no page reported an error
or a CSP violation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from ots import sealed
from tests.browser.conftest import MAX_ATTEMPTS
from tests.browser.harness import (
    INSECURE_HOST,
    LiveServer,
    ServerProcess,
    Watch,
    Weight,
    decode_qr,
    serious_axe_violations,
)
from tests.support import FakeClock
from tests.unit.test_sealed import vectors

# A browser process and the CLI's: as slow as the tests that start server processes.
pytestmark = pytest.mark.slow

# Latin with diacritics, Cyrillic (escaped: it looks Latin), an emoji, a zero-width space.
TRICKY: Final = "first line\nzweite Zeile: äöü ß\n\u0442\u0440\u0438 😀 \u200b\t end"
# Budgets, in bytes transferred for one page with everything it loads (headers included).
RECIPIENT_BUDGET: Final = 60 * 1024
SHARE_BUDGET: Final = 150 * 1024
# A plain page (no WebAssembly): "My secrets" may weigh what a recipient page may.
MINE_BUDGET: Final = 60 * 1024


def assert_accessible(page: Any, state: str, scripts: bool = True) -> None:
    """axe-core finds no serious or critical violation in the page as it is now.

    axe needs scripts (and timers) to run: a page from a context with JavaScript
    off is checked as a copy, served at its own URL to a context with JavaScript
    on whose requests for scripts are refused, so that nothing changes its DOM.
    """
    if not scripts:
        _accessible_copy(page, state)
        return
    assert serious_axe_violations(page) == [], state


def _accessible_copy(page: Any, state: str) -> None:
    html, url = page.content(), page.url
    context = page.context.browser.new_context(locale="en-US")
    try:
        copy = context.new_page()

        def serve(route: Any) -> None:
            if route.request.url == url:
                route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            elif route.request.resource_type == "script":
                route.abort()
            else:
                route.continue_()

        copy.route("**/*", serve)
        copy.goto(url)
        assert serious_axe_violations(copy) == [], f"{state} (a copy, scripts refused)"
    finally:
        context.close()


def share_sealed(page: Any, base: str, secret: str, passphrase: str = "") -> str:
    """Share ``secret`` sealed from the share page; return the link it shows."""
    page.goto(f"{base}/")
    page.fill("#secret", secret)
    if passphrase:
        page.fill("#passphrase", passphrase)
    page.click("#share-submit")
    page.wait_for_selector("#result:not([hidden])")
    return str(page.input_value("#result-link"))


def reveal_sealed(page: Any, link: str, passphrase: str = "") -> None:
    """Open ``link`` and press Reveal (after the passphrase, for a .p link)."""
    page.goto(link)
    if passphrase:
        page.fill("#sealed-passphrase", passphrase)
    page.click("#sealed-submit")


def api_status(live: LiveServer, secret_key: str) -> httpx.Response:
    """The JSON status of a secret, as an API client asks."""
    return httpx.get(f"{live.base}/secrets/{secret_key}")


def key_of(link: str) -> str:
    """The secret_key of a link."""
    return link.split("#", 1)[0].rsplit("/", 1)[1]


def ots_cli(live: LiveServer, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the ots CLI against the live server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        input=stdin,
        env={**env, "OTS_URL": live.base},
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_sealed_share_then_reveal_in_another_browser(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Sealed in one browser, revealed once in another: the exact text, then gone."""
    sender = new_context().new_page()
    sender_weight = Weight()
    sender_weight.attach(sender.context, sender)
    sender.goto(f"{live.base}/")
    assert_accessible(sender, "share page")
    link = share_sealed(sender, live.base, TRICKY)
    assert sender_weight.total < SHARE_BUDGET, sender_weight.by_url
    assert "#v1." in link and not link.endswith(".p")
    assert sender.is_hidden("#share") and sender.input_value("#secret") == ""
    assert_accessible(sender, "share result")
    assert decode_qr(sender.locator("#result-qr").screenshot()) == [link]
    receipt = sender.input_value("#result-receipt")

    recipient = new_context().new_page()
    weight = Weight()
    weight.attach(recipient.context, recipient)
    recipient.goto(link)
    assert recipient.is_visible("#sealed-submit") and recipient.is_hidden("#passphrase-form")
    assert recipient.is_hidden("#sealed-passphrase-field")
    assert_accessible(recipient, "recipient page, sealed")
    assert api_status(live, key_of(link)).json()["state"] == "pending"
    recipient.click("#sealed-submit")
    recipient.wait_for_selector("#revealed:not([hidden])")
    assert recipient.input_value("#revealed-text") == TRICKY
    assert weight.total < RECIPIENT_BUDGET, weight.by_url
    # The key leaves the address bar once the secret is gone.
    assert "#" not in recipient.url
    assert recipient.evaluate("document.activeElement.id") == "revealed-title"
    assert_accessible(recipient, "revealed")
    assert api_status(live, key_of(link)).status_code == 404

    again = new_context().new_page()
    again.goto(link)
    assert "This secret does not exist, or it is gone" in again.inner_text("main")
    sender.goto(receipt)
    assert "Read: the secret was revealed" in sender.inner_text("#receipt-state")
    assert_accessible(sender, "receipt, revealed")
    watch.assert_clean(404)


def test_sealed_link_with_a_passphrase_counts_down_to_destruction(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """A .p link asks for the passphrase; wrong ones say the attempts left; the last destroys."""
    sender = new_context().new_page()
    weight = Weight()
    weight.attach(sender.context, sender)
    link = share_sealed(sender, live.base, "guarded", passphrase="correct horse")
    assert link.endswith(".p")
    assert "argon2.umd.min.js" in " ".join(weight.by_url)
    assert weight.total < SHARE_BUDGET, weight.by_url
    assert sender.is_visible("#result-passphrase")

    recipient = new_context().new_page()
    recipient_weight = Weight()
    recipient_weight.attach(recipient.context, recipient)
    recipient.goto(link)
    assert recipient.is_visible("#sealed-passphrase")
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        recipient.fill("#sealed-passphrase", "wrong horse")
        recipient.click("#sealed-submit")
        expected = f"Wrong passphrase: {left} attempt{'s' if left > 1 else ''} left."
        recipient.wait_for_selector(f"#reveal-status:has-text('{expected}')")
        assert_accessible(recipient, f"wrong passphrase, {left} left")
    assert recipient_weight.total < RECIPIENT_BUDGET, recipient_weight.by_url
    recipient.fill("#sealed-passphrase", "wrong horse")
    recipient.click("#sealed-submit")
    recipient.wait_for_selector("#reveal-status:has-text('the secret is destroyed')")
    assert recipient.is_hidden("#sealed-form")
    assert_accessible(recipient, "destroyed")
    assert api_status(live, key_of(link)).status_code == 404
    watch.assert_clean(403, 404)


def test_sealed_link_with_the_right_passphrase(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """One wrong passphrase, then the right one: the secret, and one failure on the receipt."""
    sender = new_context().new_page()
    link = share_sealed(sender, live.base, TRICKY, passphrase="pässwörd 🔑")
    receipt = sender.input_value("#result-receipt")
    recipient = new_context().new_page()
    reveal_sealed(recipient, link, "Pässwörd 🔑")
    recipient.wait_for_selector("#reveal-status:has-text('Wrong passphrase')")
    recipient.fill("#sealed-passphrase", "pässwörd 🔑")
    recipient.click("#sealed-submit")
    recipient.wait_for_selector("#revealed:not([hidden])")
    assert recipient.input_value("#revealed-text") == TRICKY
    assert httpx.get(receipt).json()["failed_attempts"] == 1
    watch.assert_clean(403)


def test_passphrase_mode_with_javascript(live: LiveServer, new_context: Any, watch: Watch) -> None:
    """The passphrase mode, chosen on the share page: the server encrypts, the pages send JSON."""
    sender = new_context().new_page()
    sender.goto(f"{live.base}/")
    sender.check("input[name=mode][value=passphrase]")
    sender.fill("#secret", TRICKY)
    sender.click("#share-submit")
    assert sender.evaluate("document.getElementById('passphrase').validity.valueMissing")
    sender.fill("#passphrase", "server side")
    sender.click("#share-submit")
    sender.wait_for_selector("#result:not([hidden])")
    link = sender.input_value("#result-link")
    assert "#" not in link and sender.is_visible("#result-passphrase")
    recipient = new_context().new_page()
    recipient.goto(link)
    assert recipient.is_hidden("#sealed-form")
    recipient.fill("#passphrase", "server side")
    recipient.click("#passphrase-form button")
    recipient.wait_for_selector("#revealed:not([hidden])")
    assert recipient.input_value("#revealed-text") == TRICKY
    assert_accessible(recipient, "revealed, passphrase mode")
    watch.assert_clean()


def test_passphrase_mode_without_javascript(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """With JavaScript off: share with the plain form, reveal with the plain form, once."""
    sender = new_context(java_script_enabled=False).new_page()
    sender.goto(f"{live.base}/")
    assert "Sealed links, encrypted in your browser, need JavaScript" in sender.inner_text("main")
    assert_accessible(sender, "share page, no JavaScript", scripts=False)
    sender.fill("#secret", TRICKY)
    sender.fill("#passphrase", "no script")
    sender.select_option("#ttl", "3600")
    sender.click("#share-submit")
    sender.wait_for_selector("#result-title")
    link = sender.input_value("#result-link")
    assert "#" not in link
    assert "They also need the passphrase" in sender.inner_text("main")
    assert_accessible(sender, "share result, no JavaScript", scripts=False)

    recipient = new_context(java_script_enabled=False).new_page()
    recipient.goto(link)
    assert "it is sealed and needs JavaScript" in recipient.inner_text("main")
    assert_accessible(recipient, "recipient page, no JavaScript", scripts=False)
    recipient.fill("#passphrase", "wrong")
    recipient.click("#passphrase-form button")
    assert f"{MAX_ATTEMPTS - 1} attempts left" in recipient.inner_text("#form-error")
    assert_accessible(recipient, "wrong passphrase, no JavaScript", scripts=False)
    recipient.fill("#passphrase", "no script")
    recipient.click("#passphrase-form button")
    assert recipient.input_value("#revealed-text") == TRICKY
    assert_accessible(recipient, "revealed, no JavaScript", scripts=False)
    recipient.goto(link)
    assert "This secret does not exist, or it is gone" in recipient.inner_text("main")
    watch.assert_clean(403, 404)


def test_expired_and_burned_links_say_one_calm_sentence(
    live: LiveServer, live_clock: FakeClock, new_context: Any, watch: Watch
) -> None:
    """An expired and a burned sealed link read as any unknown secret: no form, one sentence."""
    links = []
    for _ in range(2):
        secret = sealed.seal(b"soon gone")
        created = httpx.post(f"{live.base}/generate", json={**secret.request(), "ttl": 60}).json()
        links.append(sealed.make_link(live.base, created["secret_key"], secret.fragment))
        receipt = created["receipt_key"]
    httpx.post(f"{live.base}/receipts/{receipt}/burn").raise_for_status()
    live_clock.advance(61)
    page = new_context().new_page()
    for link in links:
        page.goto(link)
        text = page.inner_text("main")
        assert "This secret does not exist, or it is gone" in text
        assert page.locator("form").count() == 0
        assert_accessible(page, "gone")
    watch.assert_clean(404)


def test_a_binary_secret_is_offered_as_a_download(
    live: LiveServer, new_context: Any, watch: Watch, tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 come as a file, byte for byte."""
    data = bytes(range(256))
    secret = sealed.seal(data)
    created = httpx.post(f"{live.base}/generate", json=secret.request()).json()
    page = new_context(accept_downloads=True).new_page()
    reveal_sealed(page, sealed.make_link(live.base, created["secret_key"], secret.fragment))
    page.wait_for_selector("#revealed-file:not([hidden])")
    assert_accessible(page, "revealed file")
    with page.expect_download() as download:
        page.click("#revealed-download")
    path = tmp_path / "secret.bin"
    download.value.save_as(path)
    assert path.read_bytes() == data
    watch.assert_clean()


def test_a_browser_link_opens_with_the_cli(
    live: LiveServer, new_context: Any, watch: Watch, tmp_path: Path
) -> None:
    """`ots reveal LINK` opens a link made in the browser, with and without a passphrase."""
    page = new_context().new_page()
    link = share_sealed(page, live.base, TRICKY)
    revealed = ots_cli(live, "reveal", link)
    assert revealed.returncode == 0, revealed.stderr
    assert revealed.stdout == TRICKY.encode()
    guarded = share_sealed(page, live.base, TRICKY, passphrase="from the browser")
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("from the browser\n")
    revealed = ots_cli(live, "reveal", guarded, "--passphrase-file", str(passphrase))
    assert revealed.returncode == 0, revealed.stderr
    assert revealed.stdout == TRICKY.encode()
    watch.assert_clean()


def test_a_cli_link_opens_in_the_browser(
    live: LiveServer, new_context: Any, watch: Watch, tmp_path: Path
) -> None:
    """`ots share --sealed` prints a link that a browser opens, with and without a passphrase."""
    shared = ots_cli(live, "share", "--sealed", "--json", stdin=TRICKY.encode())
    assert shared.returncode == 0, shared.stderr
    page = new_context().new_page()
    reveal_sealed(page, json.loads(shared.stdout)["link"])
    page.wait_for_selector("#revealed:not([hidden])")
    assert page.input_value("#revealed-text") == TRICKY
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("from the cli\n")
    shared = ots_cli(
        live, "share", "--sealed", "--json", "--passphrase-file", str(passphrase), stdin=b"cli"
    )
    assert shared.returncode == 0, shared.stderr
    reveal_sealed(page, json.loads(shared.stdout)["link"], "from the cli")
    page.wait_for_selector("#revealed:not([hidden])")
    assert page.input_value("#revealed-text") == "cli"
    watch.assert_clean()


def test_the_browsers_sealed_v1_reproduces_the_test_vectors(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """sealed.js, run in the page under its CSP, gives docs/sealed-v1.md's vectors exactly."""
    page = new_context().new_page()
    page.goto(f"{live.base}/")
    module = page.evaluate("document.querySelector('script[type=module]').src")
    results = page.evaluate(
        """async ([url, vectors]) => {
            const sealed = await import(url.replace("share.js", "sealed.js"));
            const hex = (bytes) =>
                Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
            const bytes = (text) =>
                Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
            const out = [];
            for (const v of vectors) {
                const made = await sealed.seal(bytes(v.plaintext), v.passphrase,
                    { linkKey: bytes(v.link_key), nonce: bytes(v.nonce) });
                const link = sealed.parseFragment(v.fragment);
                const keys = await sealed.derive(link.linkKey, v.passphrase);
                const opened = await sealed.open(v.generate_body, keys.contentKey);
                out.push({
                    body: made.body, fragment: made.fragment, content_key: hex(made.contentKey),
                    proof: hex(keys.proof), opened: hex(opened), needs: link.needsPassphrase,
                });
            }
            return out;
        }""",
        [module, vectors()],
    )
    for vector, result in zip(vectors(), results, strict=True):
        assert result["body"] == vector["generate_body"], vector["name"]
        assert result["fragment"] == vector["fragment"]
        assert result["content_key"] == vector["content_key"]
        assert result["proof"] == vector["proof"]
        assert result["opened"] == vector["plaintext"]
        assert result["needs"] is (vector["passphrase"] is not None)
    watch.assert_clean()


def test_a_headless_scanner_that_runs_scripts_burns_nothing(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Pages loaded and left to run their scripts, without a click, read and count nothing."""
    plain = sealed.seal(b"plain")
    guarded = sealed.seal(b"guarded", "pw")
    links, receipts = [], []
    for secret in (plain, guarded):
        created = httpx.post(f"{live.base}/generate", json=secret.request()).json()
        links.append(sealed.make_link(live.base, created["secret_key"], secret.fragment))
        receipts.append(f"{live.base}/receipts/{created['receipt_key']}")
    created = httpx.post(f"{live.base}/generate", json={"secret": "s", "passphrase": "p"}).json()
    links.append(f"{live.base}/secrets/{created['secret_key']}")
    receipts.append(f"{live.base}/receipts/{created['receipt_key']}")
    scanner = new_context(user_agent="Mozilla/5.0 (compatible; Safe Links scanner)").new_page()
    for url in [f"{live.base}/", *links, *receipts, *links]:
        scanner.goto(url, wait_until="networkidle")
        scanner.wait_for_timeout(200)
    for link, receipt in zip(links, receipts, strict=True):
        # Read first (a status check would open it): the creator sees the scanner's
        # visit as "opened", and that nothing was read.
        body = httpx.get(receipt).json()
        assert (body["state"], body["revealed_at"]) == ("pending", None)
        assert body["opened_at"] is not None
        status = api_status(live, key_of(link)).json()
        assert (status["state"], status["attempts_left"]) == ("pending", MAX_ATTEMPTS)
    watch.assert_clean()


def test_every_flow_by_keyboard(live: LiveServer, new_context: Any, watch: Watch) -> None:
    """Share and reveal with the keyboard alone: Tab to each control, type, press Enter."""
    page = new_context().new_page()
    page.goto(f"{live.base}/")
    tab_to(page, "secret")
    page.keyboard.type("typed by keyboard")
    tab_to(page, "share-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result:not([hidden])")
    link = page.input_value("#result-link")
    tab_to(page, "result-link")
    page.goto(link)
    tab_to(page, "sealed-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#revealed:not([hidden])")
    assert page.input_value("#revealed-text") == "typed by keyboard"
    watch.assert_clean()


def tab_to(page: Any, element_id: str, most: int = 30) -> None:
    """Press Tab until the element with ``element_id`` has the focus."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_320_pixels_in_both_schemes(
    live: LiveServer, new_context: Any, watch: Watch, scheme: str
) -> None:
    """At 320 px nothing scrolls sideways, and axe finds nothing serious, light or dark."""
    page = new_context(viewport={"width": 320, "height": 640}, color_scheme=scheme).new_page()
    link = share_sealed(page, live.base, "narrow")
    for state in ("share result", "recipient"):
        if state == "recipient":
            page.goto(link)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, (state, width)
        assert_accessible(page, f"{state}, {scheme}, 320 px")
    page.goto(f"{live.base}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, f"share page, {scheme}, 320 px")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(18, 20, 24)") is (scheme == "dark"), background
    watch.assert_clean()


def test_language_switch_keeps_the_link_key(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Switching the recipient page to German keeps the fragment, and the link still opens."""
    page = new_context().new_page()
    link = share_sealed(page, live.base, "auf Deutsch")
    page.goto(link)
    page.click("a[hreflang=de]")
    page.wait_for_selector("html[lang=de]")
    assert page.url == link.replace("#", "?lang=de#")
    assert page.inner_text("h1") == "Ein Geheimnis wartet auf Sie"
    assert_accessible(page, "recipient page, German")
    page.click("#sealed-submit")
    page.wait_for_selector("#revealed:not([hidden])")
    assert page.input_value("#revealed-text") == "auf Deutsch"
    watch.assert_clean()


def test_the_accessibility_check_finds_what_it_should(new_context: Any) -> None:
    """The axe check reports a serious violation where there is one: it is not vacuous."""
    page = new_context().new_page()
    page.set_content('<html lang="en"><title>t</title><main><input id="x"></main></html>')
    assert any(found.startswith("label (critical)") for found in serious_axe_violations(page))


def test_plain_http_on_another_host_falls_back_to_the_passphrase_mode(
    live: LiveServer, new_context: Any, watch: Watch
) -> None:
    """Without a secure context (no WebCrypto) the pages say so, and the server encrypts."""
    base = live.base.replace("127.0.0.1", INSECURE_HOST)
    page = new_context().new_page()
    page.goto(f"{base}/")
    assert "not served over HTTPS" in page.inner_text("#share-status")
    assert page.is_hidden("#mode")
    page.fill("#secret", TRICKY)
    page.fill("#passphrase", "over http")
    page.click("#share-submit")
    page.wait_for_selector("#result:not([hidden])")
    link = page.input_value("#result-link")
    assert link.startswith(f"{base}/secrets/") and "#" not in link
    assert decode_qr(page.locator("#result-qr").screenshot()) == [link]
    recipient = new_context().new_page()
    recipient.goto(link)
    recipient.fill("#passphrase", "wrong")
    recipient.click("#passphrase-form button")
    recipient.wait_for_selector(f"#reveal-status:has-text('{MAX_ATTEMPTS - 1} attempts left')")
    recipient.fill("#passphrase", "over http")
    recipient.click("#passphrase-form button")
    recipient.wait_for_selector("#revealed:not([hidden])")
    assert recipient.input_value("#revealed-text") == TRICKY
    secret = sealed.seal(b"sealed")
    created = httpx.post(f"{live.base}/generate", json=secret.request()).json()
    page.goto(sealed.make_link(base, created["secret_key"], secret.fragment))
    assert "cannot open sealed links here" in page.inner_text("#reveal-status")
    assert page.is_hidden("#sealed-form")
    assert_accessible(page, "sealed link on plain http")
    watch.assert_clean(403, insecure_origin=True)


def test_burn_from_the_receipt_page(live: LiveServer, new_context: Any, watch: Watch) -> None:
    """The creator burns a pending secret from its receipt page; its link then says it is gone."""
    page = new_context().new_page()
    link = share_sealed(page, live.base, "burn me")
    page.click("#result-receipt-open")
    page.wait_for_selector("#burn-form")
    assert "Waiting to be read." in page.inner_text("#receipt-state")
    assert_accessible(page, "receipt, pending")
    page.check("input[name=confirm]")
    page.click("#burn-form button")
    page.wait_for_selector("#receipt-state:has-text('Burned')")
    assert page.locator("#burn-form").count() == 0
    assert_accessible(page, "receipt, burned")
    page.goto(link)
    assert "This secret does not exist, or it is gone" in page.inner_text("main")
    page.goto(f"{live.base}/no/such/page")
    assert "There is no page at this address." in page.inner_text("main")
    assert_accessible(page, "unknown path")
    watch.assert_clean(404)


def test_token_mode_share_list_and_burn(
    token_live: ServerProcess, new_context: Any, watch: Watch
) -> None:
    """Where creating needs a token: share with it, find the secret on "My secrets", burn it.

    At 320 px in the dark scheme, by keyboard where it matters. The token is kept
    for the tab (sessionStorage): a reload keeps it, another tab or context has none.
    """
    token = token_live.issue_token("browser")
    context = new_context(viewport={"width": 320, "height": 640}, color_scheme="dark")
    page = context.new_page()
    weight = Weight()
    weight.attach(context, page)
    page.goto(f"{token_live.base}/")
    assert page.evaluate("document.getElementById('token').required")
    assert page.is_visible("a.mine-link") and page.is_hidden("#token-kept")
    assert_accessible(page, "share page, token mode")
    page.fill("#secret", "made with a token")
    page.fill("#token", token[:-1] + ("A" if token[-1] != "A" else "B"))
    page.click("#share-submit")
    page.wait_for_selector("#share-status:has-text('This API token is not valid')")
    # Refused: everything typed stays, and nothing was kept.
    assert page.input_value("#secret") == "made with a token"
    assert page.evaluate("sessionStorage.length") == 0
    assert_accessible(page, "share page, token refused")
    page.fill("#token", token)
    page.click("#share-submit")
    page.wait_for_selector("#result:not([hidden])")
    assert weight.total < SHARE_BUDGET, weight.by_url
    assert page.evaluate("sessionStorage.getItem('ots.token')") == token
    assert page.evaluate("[localStorage.length, document.cookie]") == [0, ""]
    assert page.is_visible("#result-mine")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, "share result with a token, 320 px, dark")
    receipt = page.input_value("#result-receipt")
    link = page.input_value("#result-link")

    page.click("#result-mine a")
    page.wait_for_selector("#mine-entries li")
    assert token not in page.url and token not in page.content()
    assert page.locator("#mine-entries li").count() == 1
    assert page.is_visible("#mine-entries [data-state=pending]")
    assert page.is_visible("#token-kept") and page.is_hidden("#token-field")
    html = page.content()
    assert key_of(link) not in html and receipt.rsplit("/", 1)[1] not in html
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    assert_accessible(page, "my secrets, listed, 320 px, dark")
    # Burn by keyboard: the button asks once more, focus on its "yes".
    page.focus("#mine-entries [data-burn]")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.hasAttribute('data-yes')")
    assert_accessible(page, "my secrets, burn asked")
    page.keyboard.press("Enter")
    page.wait_for_selector("#mine-entries [data-state=burned]:not([hidden])")
    assert page.is_hidden("#mine-entries [data-burn-box]")
    assert_accessible(page, "my secrets, burned")
    assert httpx.get(receipt).json()["state"] == "burned"

    # The tab keeps the token across a reload; another tab and another context do not.
    page.reload()
    page.wait_for_selector("#mine-entries [data-state=burned]:not([hidden])")
    other_tab = context.new_page()
    other_tab.goto(f"{token_live.base}/my-secrets")
    other_tab.wait_for_selector("#token-form:not([hidden])")
    assert other_tab.is_visible("#token") and other_tab.is_hidden("#mine-list")
    page.click("#token-forget")
    assert page.evaluate("sessionStorage.getItem('ots.token')") is None
    assert page.evaluate("document.activeElement.id") == "token"

    # Twenty more secrets, then a fresh context: the token typed once, the list a page at a time.
    for _ in range(20):
        secret = sealed.seal(b"more")
        created = httpx.post(
            f"{token_live.base}/generate",
            json=secret.request(),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
    fresh = new_context().new_page()
    fresh_weight = Weight()
    fresh_weight.attach(fresh.context, fresh)
    fresh.goto(f"{token_live.base}/my-secrets")
    fresh.wait_for_selector("#token-form:not([hidden])")
    assert fresh_weight.total < MINE_BUDGET, fresh_weight.by_url
    assert fresh.evaluate("sessionStorage.length") == 0
    assert_accessible(fresh, "my secrets, asking for the token")
    fresh.fill("#token", token)
    fresh.keyboard.press("Enter")
    fresh.wait_for_selector("#mine-more:not([hidden])")
    assert fresh.locator("#mine-entries li").count() == 20
    fresh.click("#mine-more")
    fresh.wait_for_selector("#mine-more[hidden]", state="attached")
    assert fresh.locator("#mine-entries li").count() == 21
    assert fresh.evaluate("document.activeElement.textContent").startswith("Secret no.")
    assert_accessible(fresh, "my secrets, two pages")
    watch.assert_clean(401)


def test_token_mode_without_javascript(
    token_live: ServerProcess, new_context: Any, watch: Watch
) -> None:
    """JavaScript off: the form's token field stands in for the header; refused, it says so."""
    token = token_live.issue_token("no script")
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{token_live.base}/")
    page.fill("#secret", "typed without scripts")
    page.fill("#passphrase", "no script")
    page.fill("#token", "ots_1_" + "A" * 43)
    page.click("#share-submit")
    page.wait_for_selector("#token-error")
    assert "This API token is not valid" in page.inner_text("#token-error")
    assert page.input_value("#secret") == "typed without scripts"
    assert page.input_value("#token") == "" and page.input_value("#passphrase") == ""
    assert_accessible(page, "share page, token refused, no JavaScript", scripts=False)
    page.fill("#passphrase", "no script")
    page.fill("#token", token)
    page.click("#share-submit")
    page.wait_for_selector("#result-title")
    assert page.is_visible("#result-mine")
    assert token not in page.content()
    page.click("#result-mine a")
    assert "This page needs JavaScript" in page.inner_text("main")
    assert_accessible(page, "my secrets, no JavaScript", scripts=False)
    watch.assert_clean(401)
