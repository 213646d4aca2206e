"""The API for tests: create a secret, check an error answer, scrape metrics, raw requests.

Both helpers that speak the API for every test, in-process or against a real
server, live here: ``create_secret`` and ``assert_error``. Both take what an
httpx client (or the in-process ``Client``) returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Created:
    """What ``POST /generate`` answered."""

    secret_key: str
    receipt_key: str
    expires_at: str


def create_secret(
    http: Any, secret: str = "s3cret", passphrase: str = "pass", **fields: Any
) -> Created:
    """Store a secret through the API; assert the 201 and return its keys.

    ``http`` is a client with ``post(path, json=...)`` (httpx, or the in-process
    ``Client``), or the base URL of a running server.
    """
    body = {"secret": secret, "passphrase": passphrase, **fields}
    if isinstance(http, str):
        response = httpx.post(f"{http}/generate", json=body, timeout=30)
    else:
        response = http.post("/generate", json=body)
    assert response.status_code == 201, response.text
    created = json.loads(response.content)
    return Created(created["secret_key"], created["receipt_key"], created["expires_at"])


def samples(http: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics of the in-process ``Client``; map (sample name, labels) to value."""
    response = http.get("/metrics", headers=headers)
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


# What an error body must never show: internals of the server.
LEAKS = ("Traceback", "SELECT", "INSERT", "/work/", ".py", "sqlite3", "asyncpg")
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the contract's error answer: status, code, a message, headers, no internals.

    Returns:
        The JSON body, for assertions on the error's own fields.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value
    body: dict[str, Any] = json.loads(response.content)
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    for leak in LEAKS:
        assert leak not in response.text
    if status in (429, 503, 507):
        assert int(response.headers["retry-after"]) > 0
    return body


async def raw_request(
    base: str, head: bytes, body_prefix: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """Send raw HTTP (headers, then part of a body) and read the answer.

    Used where a normal client would keep uploading a huge body the server
    has already refused. A server that answers and closes while some of our
    upload is still unread in its socket makes the kernel send a reset, which
    can destroy the answer before we read it; that is a transport race, not
    the behaviour under test, so it is retried a few times.
    """
    for attempt in range(5):
        try:
            return await _raw_request_once(base, head, body_prefix)
        except (ConnectionResetError, asyncio.IncompleteReadError):
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


async def _raw_request_once(
    base: str, head: bytes, body_prefix: bytes
) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def upload() -> None:
        # The server may answer and hang up mid-upload; that is the point.
        with contextlib.suppress(ConnectionError):
            writer.write(head)
            await writer.drain()
            for start in range(0, len(body_prefix), 16384):
                writer.write(body_prefix[start : start + 16384])
                await writer.drain()

    uploading = asyncio.create_task(upload())
    try:
        header_blob = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        lines = header_blob.decode("latin-1").strip().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body
    finally:
        uploading.cancel()
        writer.close()


def chunked(total: int, size: int = 16384) -> bytes:
    """Encode ``total`` bytes of body as HTTP chunks of ``size`` (no final chunk)."""
    out = bytearray()
    while total > 0:
        n = min(size, total)
        out += b"%x\r\n" % n + b"a" * n + b"\r\n"
        total -= n
    return bytes(out)
