"""ots.client against scripted answers: one exception per error code, and what it retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ots import client as ots
from ots.client import AsyncClient, Client
from ots.errors import OtsError

Handler = Callable[[httpx.Request], httpx.Response]
KEY = "k" * 32


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler giving ``answers`` in turn, and the requests it saw."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def make_client(
    *answers: httpx.Response | Exception, retries: int = 2
) -> tuple[Client, list[httpx.Request]]:
    """A sync client over scripted answers that never sleeps."""
    handle, seen = scripted(*answers)
    client = Client(
        "http://ots.test", retries=retries, max_wait=0, transport=httpx.MockTransport(handle)
    )
    return client, seen


def error(
    status: int, code: str, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    """An ots error answer."""
    body = {"error": code, "message": f"{code} happened", **extra}
    return httpx.Response(status, json=body, headers=headers)


ERRORS = {
    "not_found": (error(404, "not_found"), ots.NotFound),
    "wrong_passphrase": (error(403, "wrong_passphrase", attempts_left=2), ots.WrongPassphrase),
    "not_pending": (error(409, "not_pending", state="burned"), ots.NotPending),
    "invalid_json": (error(400, "invalid_json"), ots.InvalidJson),
    "request_timeout": (error(408, "request_timeout"), ots.RequestTimeout),
    "payload_too_large": (error(413, "payload_too_large"), ots.PayloadTooLarge),
    "headers_too_large": (error(431, "headers_too_large"), ots.HeadersTooLarge),
    "method_not_allowed": (error(405, "method_not_allowed"), ots.MethodNotAllowed),
    "validation_error": (
        error(422, "validation_error", details=[{"field": "ttl", "message": "too big"}]),
        ots.ValidationFailed,
    ),
    "storage_full": (error(507, "storage_full", {"Retry-After": "60"}), ots.StorageFull),
    "internal_error": (error(500, "internal_error"), ots.ServerError),
    "proxy-page": (httpx.Response(502, text="<html>Bad gateway</html>"), ots.ServerError),
    "unknown-4xx": (httpx.Response(418, json={"error": "teapot"}), ots.InvalidRequest),
}


@pytest.mark.parametrize(("answer", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_each_error_code_raises_its_exception(
    answer: httpx.Response, expected: type[ots.ApiError]
) -> None:
    """An error answer raises the exception of its code, with status and message."""
    client, seen = make_client(answer)
    with pytest.raises(expected) as caught:
        client.reveal_secret(KEY, "pw")
    assert type(caught.value) is expected
    assert caught.value.status == answer.status_code
    assert len(seen) == 1, "a refused POST is never sent again"


def test_errors_carry_their_fields() -> None:
    """attempts_left, state, details and Retry-After are attributes."""
    client, _ = make_client(
        error(403, "wrong_passphrase", attempts_left=2),
        error(409, "not_pending", state="burned"),
        error(422, "validation_error", details=[{"field": "ttl", "message": "too big"}]),
        error(507, "storage_full", {"Retry-After": "60"}),
    )
    with pytest.raises(ots.WrongPassphrase) as wrong:
        client.reveal_secret(KEY, "pw")
    assert (wrong.value.attempts_left, wrong.value.error) == (2, "wrong_passphrase")
    with pytest.raises(ots.NotPending) as pending:
        client.burn_secret(KEY)
    assert pending.value.state == "burned"
    with pytest.raises(ots.ValidationFailed) as invalid:
        client.generate_secret("s", "p", ttl=10**9)
    assert invalid.value.details == [{"field": "ttl", "message": "too big"}]
    with pytest.raises(ots.StorageFull) as full:
        client.generate_secret("s", "p")
    assert full.value.retry_after == 60


RETRIED = {
    "connect-error-post": ("POST", httpx.ConnectError("refused")),
    "rate-limited-post": ("POST", error(429, "rate_limited", {"Retry-After": "30"})),
    "overloaded-post": ("POST", error(503, "overloaded", {"Retry-After": "1"})),
    "unavailable-get": ("GET", error(503, "unavailable", {"Retry-After": "5"})),
    "read-timeout-get": ("GET", httpx.ReadTimeout("slow")),
}


def call(client: Client, method: str) -> object:
    """Reveal (a POST) or check (a GET) a secret."""
    if method == "POST":
        return client.reveal_secret(KEY, "pw")
    return client.check_secret(KEY)


def ok(method: str) -> httpx.Response:
    """A fresh success answer of a reveal (POST) or a check (GET)."""
    if method == "POST":
        return httpx.Response(200, json={"secret": "s"})
    status = {"state": "pending", "expires_at": "2026-11-25T11:00:00Z", "attempts_left": 5}
    return httpx.Response(200, json=status)


@pytest.mark.parametrize(("method", "failure"), RETRIED.values(), ids=RETRIED.keys())
def test_what_is_safe_is_retried(method: str, failure: httpx.Response | Exception) -> None:
    """A request that did nothing on the server, or a GET, is sent again and succeeds."""
    client, seen = make_client(failure, ok(method))
    call(client, method)
    assert len(seen) == 2


NOT_RETRIED = {
    "unavailable-post": (error(503, "unavailable", {"Retry-After": "5"}), ots.Unavailable),
    "read-timeout-post": (httpx.ReadTimeout("slow"), ots.ConnectionFailed),
    "storage-full": (error(507, "storage_full", {"Retry-After": "1"}), ots.StorageFull),
}


@pytest.mark.parametrize(("failure", "expected"), NOT_RETRIED.values(), ids=NOT_RETRIED.keys())
def test_a_post_that_may_have_happened_is_not_retried(
    failure: httpx.Response | Exception, expected: type[Exception]
) -> None:
    """A reveal whose answer was lost is never sent again: the secret may be gone."""
    client, seen = make_client(failure, ok("POST"))
    with pytest.raises(expected):
        client.reveal_secret(KEY, "pw")
    assert len(seen) == 1


def test_retries_are_bounded() -> None:
    """After ``retries`` more tries, the last failure is raised."""
    limited = error(429, "rate_limited", {"Retry-After": "1"})
    client, seen = make_client(limited, limited, limited, retries=2)
    with pytest.raises(ots.RateLimited) as caught:
        client.check_secret(KEY)
    assert caught.value.retry_after == 1
    assert len(seen) == 3


def test_waits_follow_retry_after_within_max_wait() -> None:
    """The wait is Retry-After, capped by max_wait; a lost connection backs off."""
    limited = ots.RateLimited(429, {}, retry_after=30)
    get = ots._check(KEY)
    assert ots._retry_wait(get, limited, 0, retries=2, max_wait=10) == 10
    assert ots._retry_wait(get, limited, 0, retries=2, max_wait=60) == 30
    refused = httpx.ConnectError("refused")
    assert ots._retry_wait(get, refused, 1, retries=2, max_wait=60) == 1.0
    assert ots._retry_wait(get, refused, 2, retries=2, max_wait=60) is None


def test_keys_stay_one_path_segment() -> None:
    """A key cannot walk to another route: it is percent-encoded as one segment."""
    client, seen = make_client(error(404, "not_found"))
    with pytest.raises(ots.NotFound):
        client.check_secret("../health")
    assert seen[0].url.raw_path == b"/secrets/..%2Fhealth"


def test_answers_are_typed_and_round_trip() -> None:
    """Times are aware UTC datetimes; to_dict gives back the server's JSON."""
    receipt = {
        "state": "pending",
        "created_at": "2026-11-25T10:00:00Z",
        "expires_at": "2026-11-25T11:00:00Z",
        "revealed_at": None,
        "failed_attempts": 0,
        "opened_at": "2026-11-25T10:01:00Z",
    }
    client, seen = make_client(
        httpx.Response(
            201,
            json={"secret_key": KEY, "receipt_key": "r" * 32, "expires_at": receipt["expires_at"]},
        ),
        httpx.Response(200, json=receipt),
        httpx.Response(200, json={"status": "ok", "database": "ok"}),
    )
    shared = client.generate_secret("s", "p", ttl=3600)
    assert json.loads(seen[0].content) == {"secret": "s", "passphrase": "p", "ttl": 3600}
    assert shared.expires_at.utcoffset() is not None
    found = client.get_receipt(shared.receipt_key)
    assert found.opened_at is not None and found.opened_at.utcoffset() is not None
    assert found.to_dict() == receipt
    assert client.get_health().to_dict() == {"status": "ok", "database": "ok"}


def test_url_comes_from_ots_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no URL given, $OTS_URL is used, else the local default."""
    monkeypatch.setenv("OTS_URL", "https://ots.example.org/")
    assert Client().url == "https://ots.example.org"
    monkeypatch.delenv("OTS_URL")
    assert Client().url == "http://127.0.0.1:8080"


def test_async_client_has_the_same_rules() -> None:
    """AsyncClient maps errors and retries as Client does."""
    handle, seen = scripted(
        error(429, "rate_limited", {"Retry-After": "1"}),
        ok("POST"),
        error(403, "wrong_passphrase", attempts_left=0),
        ok("GET"),
        httpx.Response(200, json={"state": "burned"}),
    )

    async def scenario() -> None:
        async with AsyncClient(
            "http://ots.test", max_wait=0, transport=httpx.MockTransport(handle)
        ) as client:
            assert await client.reveal_secret(KEY, "pw") == "s"
            with pytest.raises(ots.WrongPassphrase) as caught:
                await client.reveal_secret(KEY, "pw")
            assert caught.value.attempts_left == 0
            assert (await client.check_secret(KEY)).attempts_left == 5
            await client.burn_secret("r" * 32)

    asyncio.run(scenario())
    assert [request.method for request in seen] == ["POST", "POST", "POST", "GET", "POST"]


def test_notify_is_sent_and_its_secret_read() -> None:
    """notify_url and notify_events go into the body; webhook_secret and notify come back."""
    shared = {
        "secret_key": "k" * 32,
        "receipt_key": "r" * 32,
        "expires_at": "2026-11-30T10:00:00Z",
        "webhook_secret": "whsec_x",
    }
    notify = {"fingerprint": "f" * 20, "events": ["revealed"], "deliveries": []}
    receipt = {
        "state": "pending",
        "created_at": "2026-11-30T09:00:00Z",
        "expires_at": "2026-11-30T10:00:00Z",
        "revealed_at": None,
        "failed_attempts": 0,
        "notify": notify,
    }
    client, seen = make_client(httpx.Response(201, json=shared), httpx.Response(200, json=receipt))
    answer = client.generate_secret(
        "s", "p", notify_url="https://hooks.example.com/", notify_events=["revealed"]
    )
    assert answer.webhook_secret == "whsec_x"
    assert json.loads(seen[0].content)["notify"] == {
        "url": "https://hooks.example.com/",
        "events": ["revealed"],
    }
    assert client.get_receipt("r" * 32).notify == notify
    assert answer.to_dict()["webhook_secret"] == "whsec_x"


def server_errors() -> list[type[OtsError]]:
    """Every error class of the server's tree that a client can receive."""
    found: list[type[OtsError]] = []
    pending: list[type[OtsError]] = [OtsError]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.sent:
            found.append(cls)
    return found


@pytest.mark.parametrize("server_error", server_errors(), ids=lambda cls: cls.__name__)
def test_every_server_error_code_has_its_client_exception(
    server_error: type[OtsError],
) -> None:
    """Each code of ots.errors raises its own exception here, of the right kind."""
    expected = ots.ERRORS.get(server_error.code)
    assert expected is not None, f"ots.client has no exception for {server_error.code!r}"
    client, _ = make_client(error(server_error.status, server_error.code), retries=0)
    with pytest.raises(ots.ApiError) as caught:
        client.reveal_secret(KEY, "pw")
    assert type(caught.value) is expected
    # Told to retry exactly when the server says "later" (429, 503, 507).
    assert issubclass(expected, ots.RetryLater) == (server_error.status in (429, 503, 507))


def test_the_client_knows_no_code_the_server_never_sends() -> None:
    """Every code the client maps is one of the server's."""
    assert set(ots.ERRORS) <= {cls.code for cls in server_errors()}
