"""Under pressure, through real `ots serve` processes: bursts, slow clients, stops, logs."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ots.config import Settings
from tests.support import (
    CHEAP_ARGON2,
    assert_error,
    eventually,
    free_port,
    make_settings,
    running_server,
    settings_env,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow

BURST = 300


def production_cost(db_url: str, **overrides: object) -> Settings:
    """Two workers with the argon2 cost that ships (not the tests' cheap one)."""
    shipped = Settings()
    return make_settings(
        db_url,
        port=free_port(),
        workers=2,
        argon2_time_cost=shipped.argon2_time_cost,
        argon2_memory_kib=shipped.argon2_memory_kib,
        argon2_parallelism=shipped.argon2_parallelism,
        **overrides,
    )


async def _burst(base: str, requests: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        return await asyncio.gather(*(http.post(path, json=body) for path, body in requests))


async def _probe_health(base: str, stop: asyncio.Event) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            statuses.append((await http.get("/health")).status_code)
            await asyncio.sleep(0.02)
    return statuses


def _shed_properly(responses: list[httpx.Response], success: int) -> None:
    statuses = {r.status_code for r in responses}
    assert statuses <= {success, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.json()["error"] == "overloaded"
            assert 0 < int(response.headers["retry-after"]) <= 5


def test_a_burst_far_beyond_capacity_is_shed_never_failed(db_url: str, tmp_path: Path) -> None:
    """300 concurrent creates, then 300 concurrent reveals, at the production argon2 cost.

    Every answer is a success or 503 overloaded with Retry-After (no 500),
    /health keeps answering 200 all along, and every created secret reveals
    afterwards. (How fast /health answers under load is measured by the
    benchmark, README: a test asserts no timing.)
    """
    # Each worker admits its KDF threads plus 32 waiting: with the connections spread
    # over both workers, 300 at once is still far beyond what they admit.
    settings = production_cost(db_url, kdf_queue=32)
    log = tmp_path / "server.log"
    with running_server(settings, log) as base:

        async def main() -> tuple[list[httpx.Response], list[httpx.Response], list[int]]:
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe_health(base, stop))
            body = {"secret": "burst", "passphrase": "pw"}
            created = await _burst(base, [("/generate", body)] * BURST)
            keys = [r.json()["secret_key"] for r in created if r.status_code == 201]
            revealed = await _burst(
                base, [(f"/secrets/{key}", {"passphrase": "pw"}) for key in keys]
            )
            stop.set()
            return created, revealed, await probe

        created, revealed, health = asyncio.run(main())
        _shed_properly(created, 201)
        _shed_properly(revealed, 200)
        made = [r.json()["secret_key"] for r in created if r.status_code == 201]
        assert 0 < len(made) < BURST, "the burst should have been partly shed"
        left = [k for k, r in zip(made, revealed, strict=True) if r.status_code == 503]
        for key in left:
            response = httpx.post(f"{base}/secrets/{key}", json={"passphrase": "pw"}, timeout=30)
            assert response.json() == {"secret": "burst"}
    output = log.read_text()
    assert "Traceback" not in output
    assert " 500 " not in output
    assert health, "/health was never asked during the burst"
    assert set(health) == {200}


def test_a_burst_of_cheap_hashes_is_served_not_shed(db_url: str, tmp_path: Path) -> None:
    """At a cheap argon2 cost, 100 concurrent creates, 100 reveals and 50 racing reveals all pass.

    Admission is by the expected wait, not by a count: a burst whose hashes
    take microseconds is no overload, however the two workers split it.
    """
    settings = make_settings(db_url, port=free_port(), workers=2)
    with running_server(settings, tmp_path / "server.log") as base:

        async def main() -> tuple[list[int], list[int], list[int]]:
            body = {"secret": "cheap", "passphrase": "pw"}
            created = await _burst(base, [("/generate", body)] * 100)
            keys = [r.json()["secret_key"] for r in created if r.status_code == 201]
            revealed = await _burst(
                base, [(f"/secrets/{key}", {"passphrase": "pw"}) for key in keys]
            )
            one = (await _burst(base, [("/generate", body)]))[0].json()["secret_key"]
            racing = await _burst(base, [(f"/secrets/{one}", {"passphrase": "pw"})] * 50)
            return (
                [r.status_code for r in created],
                [r.status_code for r in revealed],
                sorted(r.status_code for r in racing),
            )

        created, revealed, racing = asyncio.run(main())
    assert created == [201] * 100
    assert revealed == [200] * 100
    assert racing == [200] + [404] * 49


async def _trickle(
    base: str, head: bytes, pieces: list[bytes], every: float
) -> tuple[int, dict[str, object], int]:
    # Returns the status, the body, and how many pieces were sent before the answer.
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    sent = 0

    async def send() -> None:
        nonlocal sent
        try:
            writer.write(head)
            for piece in pieces:
                await asyncio.sleep(every)
                writer.write(piece)
                await writer.drain()
                sent += 1
        except ConnectionError:
            pass

    sending = asyncio.create_task(send())
    answer = b""
    try:
        # Read as it comes: once the server hangs up, our next byte draws a reset,
        # which would throw away an answer still waiting in a buffer.
        while chunk := await asyncio.wait_for(reader.read(65536), timeout=30):
            answer += chunk
    except ConnectionResetError:
        pass
    finally:
        sending.cancel()
        writer.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split()[1]) if head_part else 0
    return status, json.loads(body) if body else {}, sent


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A server with a 2-second request timeout, on its own SQLite database."""
    directory = tmp_path_factory.mktemp("strict")
    settings = make_settings(
        f"sqlite://{directory / 'strict.sqlite3'}", port=free_port(), request_timeout=2
    )
    subprocess.run(
        [sys.executable, "-m", "ots.cli", "migrate"], env=settings_env(settings), check=True
    )
    with running_server(settings, directory / "server.log") as base:
        yield base


SLOW = {
    "header-line-every-half-second": (
        b"GET /health HTTP/1.1\r\nHost: x\r\n",
        [b"X-Pad: 1\r\n"] * 30,
    ),
    "body-byte-every-half-second": (
        b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
        [b"{"] + [b" "] * 60,
    ),
}


@pytest.mark.parametrize(("head", "pieces"), SLOW.values(), ids=SLOW.keys())
def test_slow_clients_are_cut_at_the_request_timeout(
    strict: str, head: bytes, pieces: list[bytes]
) -> None:
    """Trickling headers or a body keeps no connection beyond OTS_REQUEST_TIMEOUT: 408.

    Each piece alone arrives well within the timeout, so a timer restarted by
    every byte would never fire: the answer coming before the client ran out of
    pieces (15 s of them, against a 2 s timeout) is the proof.
    """
    status, body, sent = asyncio.run(_trickle(strict, head, pieces, every=0.5))
    assert status == 408
    assert body["error"] == "request_timeout"
    assert sent < len(pieces), "the server waited for the whole trickle"


def test_oversized_headers_are_431(strict: str) -> None:
    """A header block over Sanic's limit is 431 headers_too_large, not 413."""
    response = httpx.get(f"{strict}/health", headers={"X-Big": "a" * 20000})
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"
    # Refused before any handler ran, yet with the security headers of every answer.
    assert_error(response, 431, "headers_too_large")


REDACTION_KEY = "Qm4vT0b9c1XqZ8rLw2Yk5HnJd3Fs7GpA"
# Paths as a client may send them, byte for byte (http.client does not normalise).
LOGGED_PATHS = {
    "capitalised": f"/Secrets/{REDACTION_KEY}",
    "encoded-letter": f"/%73ecrets/{REDACTION_KEY}",
    "upper-case-receipt-burn": f"/RECEIPTS/{REDACTION_KEY}/burn",
    "empty-segment": f"/secrets//{REDACTION_KEY}",
    "path-parameter-on-the-key": f"/secrets/{REDACTION_KEY};x",
    "path-parameter-on-the-segment": f"/secrets;x/{REDACTION_KEY}",
    "backslash": f"/secrets\\{REDACTION_KEY}",
    "encoded-backslash": f"/secrets%5C{REDACTION_KEY}",
    "encoded-tab": f"/secrets%09/{REDACTION_KEY}",
    "double-encoded-slash": f"/secrets%252F{REDACTION_KEY}",
    "encoded-slash-then-a-path": f"/receipts%2F{REDACTION_KEY}/burn",
}


@pytest.mark.parametrize("kind", ["ots-serve", "uvicorn"])
def test_key_variants_are_redacted_in_the_log(db_url: str, tmp_path: Path, kind: str) -> None:
    """No spelling of a keyed path leaves its key in the access log, raw or decoded (uvicorn)."""
    settings = make_settings(db_url, port=free_port(), access_log=True)
    log = tmp_path / "server.log"
    with running_server(settings, log, kind=kind):
        for path in LOGGED_PATHS.values():
            connection = http.client.HTTPConnection(settings.host, settings.port, timeout=10)
            connection.request("POST", path, body=b'{"passphrase": "pw"}')
            assert connection.getresponse().status < 500, path
            connection.close()
        eventually(
            lambda: log.read_text().count("[redacted]") >= len(LOGGED_PATHS), "every request logged"
        )
    output = log.read_text()
    assert output.count("[redacted]") >= len(LOGGED_PATHS)
    assert REDACTION_KEY not in output


# From 0.5 s: before that the interpreter itself may still be starting (slower under
# coverage), and a SIGTERM ends it by its default action (status 143) before any
# code of ours runs.
STOP_POINTS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, "ready", "ready+0.5"]


def test_a_stop_at_any_moment_of_the_start_ends_cleanly(db_url: str, tmp_path: Path) -> None:
    """SIGTERM at ten points from process start to full readiness: exit 0 within 5 s, quietly."""
    settings = make_settings(db_url, port=free_port(), workers=2, **CHEAP_ARGON2)
    base = f"http://127.0.0.1:{settings.port}"
    # Unmeasured: coverage's own SIGTERM handler in every measured process would
    # change the very signal handling under test.
    env = {k: v for k, v in settings_env(settings).items() if k != "COVERAGE_PROCESS_CONFIG"}
    for point in STOP_POINTS:
        log = tmp_path / f"stop-{point}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ots.cli", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            if isinstance(point, float):
                time.sleep(point)
            else:
                wait_until_healthy(base, proc)
                time.sleep(0.5 if point == "ready+0.5" else 0)
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                # The whole group: workers left behind would serve on into later tests.
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                pytest.fail(
                    f"SIGTERM at {point}: still running after 5 s\n{log.read_text()[-3000:]}"
                )
        output = log.read_text()
        assert code == 0, (point, output[-2000:])
        if isinstance(point, str):
            # A stop once serving is quiet. (One landing while a worker is half
            # started may still print that worker's start-up traceback: noise
            # from Sanic's internals, not a failure, and it still ends cleanly.)
            assert "Traceback" not in output, (point, output[-2000:])
            assert "WARNING" not in output, (point, output[-2000:])


def test_clients_that_give_up_mid_request_leave_nothing_stuck(db_url: str, tmp_path: Path) -> None:
    """Hundreds of creates abandoned mid-flight (client timeouts) do not wedge the database.

    A request cancelled inside a transaction once kept the SQLite connection's
    lock, and every later query of that worker hung.
    """
    settings = make_settings(db_url, port=free_port(), workers=2)

    async def abandon(base: str) -> None:
        limits = httpx.Limits(max_connections=64)
        timeout = httpx.Timeout(0.05)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:

            async def one() -> None:
                with contextlib.suppress(httpx.HTTPError):
                    await http.post("/generate", json={"secret": "s", "passphrase": "p"})

            for _ in range(20):
                await asyncio.gather(*(one() for _ in range(64)))

    with running_server(settings, tmp_path / "server.log") as base:
        asyncio.run(abandon(base))
        statuses = []
        with httpx.Client(base_url=base, timeout=5) as http:
            for _ in range(20):
                try:
                    body = {"secret": "s", "passphrase": "p"}
                    statuses.append(http.post("/generate", json=body).status_code)
                except httpx.ReadTimeout:
                    statuses.append(0)
    assert statuses == [201] * 20
    assert "Traceback" not in (tmp_path / "server.log").read_text()
