"""HTTP-level behaviour: headers, methods, unknown routes, health and docs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Client
from tests.support import assert_error, raw_request

SECURITY = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

REQUESTS = {
    "generate": ("POST", "/generate", b'{"secret": "s", "passphrase": "p"}'),
    "reveal-404": ("POST", "/secrets/" + "A" * 32, b'{"passphrase": "p"}'),
    "status-404": ("GET", "/secrets/" + "A" * 32, b""),
    "bad-json": ("POST", "/generate", b"{"),
    "validation": ("POST", "/generate", b"{}"),
    "unknown-route": ("GET", "/nope", b""),
    "method": ("PUT", "/generate", b""),
    "health": ("GET", "/health", b""),
    "spec": ("GET", "/docs/openapi.json", b""),
}


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS.values(), ids=REQUESTS.keys())
def test_every_response_carries_the_headers(
    client: Client, method: str, path: str, body: bytes
) -> None:
    """Every answer, success or error, is JSON with the security headers."""
    response = client.request(method, path, **({"content": body} if body else {}))
    for header, value in SECURITY.items():
        assert response.headers[header] == value
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json, dict)


METHODS = {
    "put-generate": ("PUT", "/generate", {"POST"}),
    "get-generate": ("GET", "/generate", {"POST"}),
    "delete-secret": ("DELETE", "/secrets/" + "A" * 32, {"GET", "POST"}),
    "patch-secret": ("PATCH", "/secrets/" + "A" * 32, {"GET", "POST"}),
    "post-health": ("POST", "/health", {"GET"}),
}


@pytest.mark.parametrize(("method", "path", "allowed"), METHODS.values(), ids=METHODS.keys())
def test_wrong_method_is_405_with_allow(
    client: Client, method: str, path: str, allowed: set[str]
) -> None:
    """405 method_not_allowed lists the allowed methods, even where GET and POST share a path."""
    response = client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    listed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= listed
    assert method not in listed


NO_PATH = {
    "put-generate-slash": ("PUT", "/generate/"),
    "delete-secret-slash": ("DELETE", "/secrets/" + "A" * 32 + "/"),
    "post-health-slash": ("POST", "/health/"),
}


@pytest.mark.parametrize(("method", "path"), NO_PATH.values(), ids=NO_PATH.keys())
def test_a_path_that_takes_no_method_is_404(client: Client, method: str, path: str) -> None:
    """A trailing slash is no route (strict slashes): 404, never a 405 with an empty Allow."""
    response = client.request(method, path)
    assert_error(response, 404, "not_found")
    assert "allow" not in response.headers


def test_unknown_route_is_json_404(client: Client) -> None:
    """An unknown path answers the contract's 404 body."""
    response = client.get("/admin/../../etc/passwd")
    assert_error(response, 404, "not_found")


def test_health_reports_the_database(client: Client) -> None:
    """/health answers ok when the database answers."""
    response = client.get("/health")
    assert (response.status, response.json) == (200, {"status": "ok", "database": "ok"})


UNREADABLE_TARGETS = {
    "no-leading-slash": b"secrets/" + b"K" * 32,
    "backslashes": b"\\secrets\\" + b"K" * 32,
    "scheme-only": b"sip:nm",
}


@pytest.mark.parametrize("target", UNREADABLE_TARGETS.values(), ids=UNREADABLE_TARGETS.keys())
def test_an_unreadable_request_target_is_answered_400(
    client: Client, target: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A target httptools cannot parse gets a JSON 400: no dropped connection, no key logged."""
    head = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n"
    status, headers, body = client.run(raw_request(client.base, head))
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "bad_request"
    assert "K" * 32 not in caplog.text
