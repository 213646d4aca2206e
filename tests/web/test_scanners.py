"""Link previewers and mail scanners cannot burn a secret: they only ever GET and HEAD.

Every page kind (requests' too) is fetched the way unfurlers (chat apps, social networks),
mail scanners (Safe Links, secure mail gateways), search bots and plain HTTP
tools fetch a link, with their user agents and both a browser's Accept and
``*/*``. Afterwards every secret is still pending, with every attempt, and
its receipt says so: pending, and opened; every request still takes its answer, and an
answer waits unread. (A headless browser that runs the pages' scripts
without clicking: tests/browser/test_flows.py.)
"""

from __future__ import annotations

from typing import Final

from ots import request, sealed
from tests.api.test_requests import answer, ask
from tests.conftest import Client
from tests.support import BROWSER_ACCEPT, create_secret

USER_AGENTS: Final = {
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "twitter": "Twitterbot/1.0",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "telegram": "TelegramBot (like TwitterBot)",
    "linkedin": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "teams": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com",
    "excel": "Microsoft Office Excel 2014",
    "msoffice": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "outlook": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
    # Safe Links and the like fetch as an ordinary desktop browser would.
    "safe-links": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "proofpoint": "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "mimecast": "Mozilla/5.0 (compatible; Mimecast URL Protect)",
    "barracuda": "Barracuda Sentinel (EE)",
    "curl": "curl/8.5.0",
    "python-requests": "python-requests/2.32.3",
    "wget": "Wget/1.21.4",
}
ACCEPTS: Final = (BROWSER_ACCEPT, "*/*")


def test_unfurlers_and_scanners_burn_nothing(client: Client) -> None:
    """GET and HEAD of every page kind, by every agent, leave every secret pending."""
    passphrase = create_secret(client)
    plain = sealed.seal(b"sealed, no passphrase")
    sealed_plain = client.post("/generate", json=plain.request()).json
    guarded = sealed.seal(b"sealed, with a passphrase", "pw")
    sealed_guarded = client.post("/generate", json=guarded.request()).json
    secrets = [
        (passphrase.secret_key, passphrase.receipt_key),
        (sealed_plain["secret_key"], sealed_plain["receipt_key"]),
        (sealed_guarded["secret_key"], sealed_guarded["receipt_key"]),
    ]
    open_asker, open_request = ask(client, note="for the scanners")
    answered_asker, answered_request = ask(client, note="for the scanners")
    posted = answer(client, answered_request["request_key"], answered_asker, b"the answer")
    assert posted.status == 201, posted.text
    paths = ["/", "/my-secrets", "/ask"]
    for secret_key, receipt_key in secrets:
        # A scanner fetches the URL without its fragment: browsers and HTTP clients never send it.
        paths += [f"/secrets/{secret_key}", f"/receipts/{receipt_key}"]
    for asked in (open_request, answered_request):
        # The request link, and the answer link the asker keeps (a 404 until it is answered).
        paths += [f"/requests/{asked['request_key']}", f"/secrets/{asked['answer_key']}"]
        paths += [f"/receipts/{asked['receipt_key']}"]
    version = client.app.ctx.web.assets.version
    scripts = ("reveal.js", "share.js", "mine.js", "ask.js", "answer.js", "request.js")
    paths += [f"/static/{version}/js/{name}" for name in scripts]
    for agent in USER_AGENTS.values():
        for accept in ACCEPTS:
            headers = {"user-agent": agent, "accept": accept}
            for path in paths:
                for method in ("GET", "HEAD"):
                    status = client.request(method, path, headers=headers).status
                    assert status in (200, 404), (agent, method, path, status)
    for secret_key, receipt_key in secrets:
        # The receipt first (a status check would open the link itself): opened by
        # the scanners, so the creator can see a preview happened, and never read.
        receipt = client.get(f"/receipts/{receipt_key}").json
        assert (receipt["state"], receipt["failed_attempts"]) == ("pending", 0)
        assert receipt["revealed_at"] is None
        assert receipt["opened_at"] is not None
        status = client.get(f"/secrets/{secret_key}").json
        assert (status["state"], status["attempts_left"]) == ("pending", 5)
    assert client.reveal(passphrase.secret_key).json == {"secret": "s3cret"}
    # The open request still takes its answer; the answered one's answer is unread, every
    # attempt left, and opens once for its asker.
    assert client.get(f"/requests/{open_request['request_key']}").json["state"] == "open"
    assert client.get(f"/receipts/{open_request['receipt_key']}").json["state"] == "requested"
    sealed_answer = request.seal_answer(b"late but first", open_asker.public_key).body()
    posted = client.post(f"/requests/{open_request['request_key']}/answer", json=sealed_answer)
    assert posted.status == 201, posted.text
    receipt = client.get(f"/receipts/{answered_request['receipt_key']}").json
    assert (receipt["state"], receipt["revealed_at"]) == ("answered", None)
    answer_key = answered_request["answer_key"]
    status = client.get(f"/secrets/{answer_key}").json
    assert (status["state"], status["attempts_left"]) == ("pending", 5)
    proof = {"proof": sealed.b64encode(answered_asker.proof)}
    assert client.post(f"/secrets/{answer_key}", json=proof).status == 200
