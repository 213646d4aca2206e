"""The error mapper: framework timeouts and limits become the contract's errors, not 500s."""

from __future__ import annotations

import json
import logging

import pytest
from sanic.exceptions import PayloadTooLarge, RequestTimeout, ServiceUnavailable

from ots.api.errors import JsonErrorHandler
from ots.errors import NotFoundError

CASES = {
    "response-timeout": (ServiceUnavailable("Response Timeout"), 503, "unavailable"),
    "request-timeout": (RequestTimeout("Request Timeout"), 408, "request_timeout"),
    "header-too-large": (
        PayloadTooLarge("Request header exceeds the size limit"),
        431,
        "headers_too_large",
    ),
    "body-too-large": (PayloadTooLarge("Request body exceeds the size limit"), 413, None),
}


@pytest.mark.parametrize(("exception", "status", "code"), CASES.values(), ids=CASES.keys())
def test_framework_errors_map_to_the_contract(
    exception: Exception, status: int, code: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Load and slow clients are answered with their own status and code, and no traceback."""
    caplog.set_level(logging.DEBUG, logger="ots.api")
    response = JsonErrorHandler().default(None, exception)  # type: ignore[arg-type]
    body = json.loads(response.body)
    assert response.status == status
    assert body["error"] == (code or "payload_too_large")
    if status == 503:
        assert int(response.headers["retry-after"]) > 0
    assert not [r for r in caplog.records if r.name == "ots.api"], "logged as a bug"


class _BrokenPages:
    """Error pages whose rendering fails, as a broken template would."""

    def answer(self, request: object, error: object, headers: dict[str, str]) -> None:
        raise RuntimeError("template broke")


def test_an_error_page_that_fails_falls_back_to_json(caplog: pytest.LogCaptureFixture) -> None:
    """A page that cannot be rendered never turns an error into a 500: the JSON answers."""
    handler = JsonErrorHandler(_BrokenPages())  # type: ignore[arg-type]
    response = handler.default(None, NotFoundError())  # type: ignore[arg-type]
    assert response.status == 404
    assert json.loads(response.body)["error"] == "not_found"
    assert [r.message for r in caplog.records if r.name == "ots.api"] == ["error page failed"]
