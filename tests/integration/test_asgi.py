"""The contract through real server processes: `ots serve` and uvicorn on `ots.asgi:app`."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from ots.config import Settings
from tests.support import (
    SECURITY_HEADERS,
    assert_error,
    chunked,
    count_rows,
    create_postgres_database,
    create_secret,
    drop_postgres_database,
    eventually,
    free_port,
    make_settings,
    needs_postgres,
    raw_request,
    running_server,
    server_command,
    settings_env,
    sql,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["ots-serve", "uvicorn"])
def served(
    request: pytest.FixtureRequest, migrated_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A real server of each kind on the session database, and its log file."""
    settings = make_settings(migrated_db, port=free_port(), access_log=True)
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    with running_server(settings, log, kind=request.param) as base:
        yield base, log


def _check(response: httpx.Response, status: int) -> dict[str, object]:
    # A success: its status and the headers every answer carries (errors: assert_error).
    assert response.status_code == status, response.text
    for header, value in SECURITY_HEADERS.items():
        assert response.headers[header] == value
    return response.json()  # type: ignore[no-any-return]


def test_contract_walkthrough(served: tuple[str, Path]) -> None:
    """Create, check, fail, reveal, receipts, burn and every error status behave alike."""
    base, log = served
    with httpx.Client(base_url=base) as http:
        created = _check(http.post("/generate", json={"secret": "s3", "passphrase": "pw"}), 201)
        key, receipt = str(created["secret_key"]), str(created["receipt_key"])
        assert _check(http.get(f"/secrets/{key}"), 200)["attempts_left"] == 5
        assert (
            assert_error(
                http.post(f"/secrets/{key}", json={"passphrase": "x"}), 403, "wrong_passphrase"
            )["attempts_left"]
            == 4
        )
        assert _check(http.post(f"/secrets/{key}", json={"passphrase": "pw"}), 200) == {
            "secret": "s3"
        }
        assert_error(http.post(f"/secrets/{key}", json={"passphrase": "pw"}), 404, "not_found")
        assert _check(http.get(f"/receipts/{receipt}"), 200)["state"] == "revealed"
        assert (
            assert_error(http.post(f"/receipts/{receipt}/burn"), 409, "not_pending")["state"]
            == "revealed"
        )
        other = _check(http.post("/generate", json={"secret": "b", "passphrase": "pw"}), 201)
        assert _check(http.post(f"/receipts/{other['receipt_key']}/burn"), 200) == {
            "state": "burned"
        }
        assert_error(http.post("/generate", content=b"{nope"), 400, "invalid_json")
        assert_error(
            http.post("/generate", content=rb'{"secret": "\ud800", "passphrase": "p"}'),
            422,
            "validation_error",
        )
        _check(http.post("/generate", json={"secret": "s", "passphrase": "p", "ttl": 1}), 201)
        assert_error(
            http.post("/generate", json={"secret": "é" * 40000, "passphrase": "p"}),
            413,
            "payload_too_large",
        )
        refused = http.delete(f"/secrets/{key}")
        assert_error(refused, 405, "method_not_allowed")
        assert "POST" in refused.headers["allow"]
        assert_error(http.get("/nowhere"), 404, "not_found")
        assert _check(http.get("/health"), 200) == {"status": "ok", "database": "ok"}
        assert "/generate" in http.get("/docs/openapi.json").json()["paths"]
    # The last request's line is in: every line before it is too (one worker, in order).
    eventually(lambda: "/docs/openapi.json" in log.read_text(), "the last request logged")
    text = log.read_text()
    assert key not in text
    assert receipt not in text
    assert "[redacted]" in text


FRAMINGS = {
    "content-length": b"Content-Length: 10000000\r\n",
    "chunked": b"Transfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("framing", FRAMINGS.values(), ids=FRAMINGS.keys())
def test_oversized_body_is_413_before_it_is_read(served: tuple[str, Path], framing: bytes) -> None:
    """A 10 MB body gets 413 after only part of it was sent, with either framing."""
    base, _ = served
    head = b"POST /generate HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n"
    # Declared length: nothing of the body is sent. Chunked: just past the limit,
    # so the server must count it, yet has read every byte it was sent (a server
    # that closes with unread input resets the connection and loses its answer).
    prefix = b""
    if b"chunked" in framing:
        prefix = chunked(Settings().request_max_bytes + 1)
    status, _, body = asyncio.run(raw_request(base, head, prefix))
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"


def test_a_forged_scheme_makes_no_page_its_own(served: tuple[str, Path]) -> None:
    """With no proxy set, X-Forwarded-Proto from 127.0.0.1 is trusted by neither server.

    uvicorn runs as the README starts it (--no-proxy-headers), so the scheme
    it gives ots is the connection's: a page claiming https is another origin.
    """
    base, _ = served
    page = {
        "Origin": base.replace("http:", "https:"),
        "Sec-Fetch-Site": "same-origin",
        "X-Forwarded-Proto": "https",
    }
    response = httpx.post(f"{base}/generate", json={"secret": "s", "passphrase": "p"}, headers=page)
    assert_error(response, 403, "forbidden")


@needs_postgres
def test_two_instances_cold_start_on_one_empty_postgres(tmp_path: Path) -> None:
    """Two uvicorn instances starting together on one empty database both come up."""
    url = create_postgres_database()
    procs = []
    try:
        for i in range(2):
            settings = make_settings(url, port=free_port())
            log = (tmp_path / f"instance-{i}.log").open("w")
            procs.append(
                (
                    settings,
                    subprocess.Popen(
                        server_command(settings, "uvicorn"),
                        env=settings_env(settings),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                )
            )
        for settings, proc in procs:
            wait_until_healthy(f"http://127.0.0.1:{settings.port}", proc)
        base = f"http://127.0.0.1:{procs[0][0].port}"
        assert (
            httpx.post(f"{base}/generate", json={"secret": "s", "passphrase": "p"}).status_code
            == 201
        )

        async def applied() -> int:
            conn = await asyncpg.connect(url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM aerich"))
            finally:
                await conn.close()

        migrations = len(list(Path("migrations/postgres/models").glob("*.py")))
        assert asyncio.run(applied()) == migrations
    finally:
        for _, proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        drop_postgres_database(url)


def import_asgi(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import ``ots.asgi`` (which builds its app) in a process with ``env``."""
    return subprocess.run(
        [sys.executable, "-c", "import ots.asgi"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_asgi_module_reads_the_environment(db_url: str) -> None:
    """`ots.asgi` builds its app from OTS_* variables, and a bad one names itself."""
    bad = import_asgi({**settings_env(make_settings(db_url)), "OTS_MAX_TTL": "soon"})
    assert bad.returncode != 0
    assert "OTS_MAX_TTL" in bad.stderr


def test_asgi_module_refuses_argon2_memory_the_machine_lacks(db_url: str) -> None:
    """Under ASGI too, an argon2 memory cost beyond the machine stops the start, naming it."""
    env = {**settings_env(make_settings(db_url)), "OTS_ARGON2_MEMORY_KIB": str(2**32 - 1)}
    bad = import_asgi(env)
    assert bad.returncode != 0
    assert "OTS_ARGON2_MEMORY_KIB" in bad.stderr
    assert "MiB this process may use" in bad.stderr


def test_asgi_module_warns_of_unknown_variables(db_url: str) -> None:
    """Under ASGI too, an OTS_* variable nothing reads is named in a warning."""
    result = import_asgi({**settings_env(make_settings(db_url)), "OTS_WROKERS": "2"})
    assert result.returncode == 0, result.stderr
    assert "OTS_WROKERS is not a setting of ots and is ignored; did you mean OTS_WORKERS?" in (
        result.stderr
    )


def insert_expired(database_url: str) -> str:
    """Store an expired secret row straight in the database; return its lookup."""
    lookup = secrets.token_hex(32)
    sql(
        database_url,
        "INSERT INTO secret (lookup, salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, "
        "kdf_parallelism, created_at, expires_at) VALUES (?, ?, ?, ?, 0, 0, 0, 1, 2)",
        lookup,
        b"s" * 16,
        b"n" * 12,
        b"ciphertext",
    )
    return lookup


@pytest.mark.parametrize("kind", ["ots-serve", "uvicorn"])
def test_only_the_asgi_entry_point_sweeps_on_a_create(
    kind: str, db_url: str, tmp_path: Path
) -> None:
    """Once the resident sweeper swept, a create sweeps under uvicorn and never under serve."""
    first = insert_expired(db_url)
    log = tmp_path / "server.log"
    with running_server(make_settings(db_url, port=free_port()), log, kind=kind) as base:
        # The resident sweeper has swept at start, and sleeps for OTS_SWEEP_INTERVAL (an hour).
        eventually(lambda: "swept 1 expired secrets" in log.read_text(), "the first sweep")
        assert count_rows(db_url, f"lookup = '{first}'") == 0
        later = insert_expired(db_url)
        create_secret(base)
        assert count_rows(db_url, f"lookup = '{later}'") == (0 if kind == "uvicorn" else 1)
