"""The API's JSON response sends the headers Sanic's own would, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
from sanic.compat import Header
from sanic.response import JSONResponse

from ots.api import responses
from ots.api.responses import SECURITY_HEADERS, ApiResponse

HEADERS: dict[str, dict[str, Any]] = {
    "the usual": {
        **SECURITY_HEADERS,
        "X-RateLimit-Limit": "600",
        "content-length": 63,
        "connection": "keep-alive",
        "alt-svc": "",
    },
    "a value with CR, LF and NUL": {"Location": "/x\r\nSet-Cookie: a=b\x00", "connection": "close"},
    "a usual name with another value": {"Cache-Control": "public\r\nX: y", "Retry-After": 7},
    "a name with CR and LF": {"X-A\r\nX-B": "v"},
    "a value that is not text": {"X-Count": 12, "X-Ratio": 0.5},
}


@pytest.mark.parametrize("status", [103, 200, 201, 204, 304, 429])
@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_the_headers_go_out_as_sanics_own_would_send_them(
    headers: dict[str, Any], status: int
) -> None:
    """Pre-encoded or cleaned, the bytes are the ones Sanic's JSONResponse produces."""
    ours = ApiResponse({"a": 1}, status=status, headers=dict(headers))
    sanics = JSONResponse({"a": 1}, status=status, headers=dict(headers))
    assert list(ours.processed_headers) == list(sanics.processed_headers)


def test_a_name_repeated_in_another_case_goes_out_as_sanics_would() -> None:
    """Two values under one name, in two cases: both sent, each as Sanic sends it."""
    pairs: list[tuple[str, Any]] = [("Cache-Control", "no-store"), ("cache-control", "private")]
    ours = ApiResponse({}, headers=Header(pairs))
    sanics = JSONResponse({}, headers=Header(pairs))
    assert list(ours.processed_headers) == list(sanics.processed_headers)


def test_a_usual_header_is_sent_from_the_bytes_encoded_once() -> None:
    """The shortcut is taken: the very pair encoded at import goes out."""
    response = ApiResponse({}, headers={"X-Content-Type-Options": "nosniff"})
    sent = list(response.processed_headers)
    usual = responses._ENCODED[("X-Content-Type-Options", "nosniff")]
    assert any(pair is usual for pair in sent)


def test_a_value_from_outside_is_cleaned_even_under_a_usual_name() -> None:
    """Only an exact usual name and value is sent pre-encoded: CR and LF never get through."""
    response = ApiResponse({}, headers={"Cache-Control": "no-store\r\nSet-Cookie: a=b"})
    sent = dict(response.processed_headers)
    assert sent[b"Cache-Control"] == b"no-storeSet-Cookie: a=b"
    assert b"Set-Cookie" not in sent
