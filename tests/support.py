"""Helpers shared by the test suite: databases, clocks, ports, real servers, and the API.

Two helpers speak the API for every test, in-process or against a real
server: ``create_secret`` and ``assert_error``. Both take what an httpx
client (or the in-process ``Client``) returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ots import keyring
from ots.config import Settings
from ots.keyring import KeyFile

T = TypeVar("T")

POSTGRES_ADMIN_URL = os.environ.get(
    "OTS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
DATABASES = [d for d in os.environ.get("OTS_TEST_DATABASES", "sqlite,postgres").split(",") if d]
# A run without PostgreSQL is the run without services: what needs PostgreSQL skips,
# and so does what needs Redis if Redis is not there. Any run with PostgreSQL (CI's)
# needs Redis too, and fails without it.
SERVICES_REQUIRED = "postgres" in DATABASES

# argon2 accepts these; they make a hash take microseconds. Only for tests.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
# One server keyring for the whole run, outside the checkout (the PostgreSQL default,
# ots.key in the working directory, would land in the repository).
TEST_KEY_FILE = Path(tempfile.mkdtemp(prefix="ots-test-keys-")) / "ots.key"


@dataclass
class FakeClock:
    """A clock the tests move by hand instead of sleeping."""

    now: float = field(default_factory=lambda: float(int(time.time())))

    def __call__(self) -> float:
        """Return the current fake time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: cheap argon2, short minimum TTL, slow sweeper."""
    values: dict[str, object] = {
        "database_url": database_url,
        "min_ttl": 1,
        "sweep_interval": 3600.0,
        "rate_limit": "100000/minute",
        "server_key_file": str(TEST_KEY_FILE),
        **CHEAP_ARGON2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def server_keys(path: Path = TEST_KEY_FILE) -> KeyFile:
    """The server keyring at ``path``, created on first use."""
    ring, _ = keyring.ensure(path)
    return KeyFile(path, ring)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        return False
    return True


needs_postgres = pytest.mark.skipif(
    not SERVICES_REQUIRED, reason="OTS_TEST_DATABASES leaves PostgreSQL out"
)
needs_redis = pytest.mark.skipif(
    not SERVICES_REQUIRED and not _reachable(REDIS_URL),
    reason="no Redis, and OTS_TEST_DATABASES leaves PostgreSQL out",
)


# For tests that build their own database of each kind.
KINDS = ["sqlite", pytest.param("postgres", marks=needs_postgres)]


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


# What a browser sends for a page (Chromium's own Accept), and for a form post.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8"
)
BROWSER = {"accept": BROWSER_ACCEPT}
FORM = {**BROWSER, "content-type": "application/x-www-form-urlencoded"}
PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "x-content-type-options": "nosniff",
}


class _Text(HTMLParser):
    """The text a reader sees: no tags, no scripts' JSON, runs of white space as one."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    """Return the visible text of a page, white space collapsed."""
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def assert_page(response: httpx.Response, status: int) -> str:
    """Assert a page: status, HTML, the pages' headers, a CSP, no internals; return its text."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for header, value in PAGE_HEADERS.items():
        assert response.headers[header] == value, header
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "default-src 'none'" in policy
    assert "set-cookie" not in response.headers
    for leak in ("Traceback", "SELECT", "INSERT", "/work/", "sqlite3", "asyncpg"):
        assert leak not in response.text
    return page_text(response.text)


def eventually(check: Callable[[], T], what: str, timeout: float = 20) -> T:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout``.

    For effects that happen on their own schedule (a sweeper, a checkpoint); the
    timeout only bounds the wait, it asserts no speed.
    """
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)
    return result


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_postgres_database() -> str:
    """Create an empty PostgreSQL database; return its URL."""
    name = f"ots_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    """Drop a database made by ``create_postgres_database``."""
    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def new_database(kind: str, directory: Path) -> str:
    """Return the URL of a new, empty database of ``kind`` (sqlite or postgres)."""
    if kind == "sqlite":
        return f"sqlite://{directory / f'ots-{uuid.uuid4().hex[:8]}.sqlite3'}"
    return create_postgres_database()


def sql(database_url: str, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """Run one statement straight on the database, bypassing ots; return its rows.

    ``?`` placeholders on both kinds (numbered for PostgreSQL here); committed.
    """
    if database_url.startswith("sqlite://"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30)
        try:
            with conn:
                return [tuple(row) for row in conn.execute(statement, args).fetchall()]
        finally:
            conn.close()
    for number in range(1, len(args) + 1):
        statement = statement.replace("?", f"${number}", 1)

    async def run() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await conn.fetch(statement, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def empty_database(database_url: str) -> None:
    """Delete every secret, receipt, webhook and delivery, so that a test owns every row it sees."""
    for table in ("secret", "receipt", "webhook", "delivery"):
        sql(database_url, f"DELETE FROM {table}")


def settings_env(settings: Settings) -> dict[str, str]:
    """Return the ``OTS_*`` environment that reproduces ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    for name in Settings.__dataclass_fields__:
        env[f"OTS_{name.upper()}"] = str(getattr(settings, name))
    return env


def run_cli(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ots ARGS`` in a subprocess with ``settings`` in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        env=settings_env(settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def race_cli(
    env: dict[str, str], *args: str, count: int, cwd: Path | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Start ``count`` processes of ``ots ARGS`` at once with ``env``; return each one's result."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ots.cli", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def run_bare(*args: str, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``ots ARGS`` in ``cwd`` with no OTS_* variable but ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        env={**env, **variables},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def server_command(settings: Settings, kind: str = "ots-serve") -> list[str]:
    """Return the command line of a real server: ``ots serve`` or uvicorn on ``ots.asgi:app``."""
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "ots.asgi:app",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
        ]
    return [sys.executable, "-m", "ots.cli", "serve"]


@contextlib.contextmanager
def running_server(
    settings: Settings, log_path: Path, cwd: Path | None = None, kind: str = "ots-serve"
) -> Iterator[str]:
    """Start a real server process; yield its base URL; stop it with SIGTERM."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            server_command(settings, kind),
            env=settings_env(settings),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://{settings.host}:{settings.port}"
        try:
            wait_until_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_healthy(
    base: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60
) -> None:
    """Poll ``/health`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            # A generous timeout: a probe abandoned under load is logged as a 500.
            if httpx.get(f"{base}/health", timeout=10).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{base} did not become healthy")


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


class TcpProxy:
    """A TCP relay between the app and PostgreSQL that a test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        """Relay a free local port to ``target_host:target_port`` once started."""
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TcpProxy:
        """Start relaying."""
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        """Stop relaying and close everything."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones, like a dead database."""
        self.up = False
        self._loop.call_soon_threadsafe(self._close_all)

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def count_rows(database_url: str, where: str = "1=1", table: str = "secret") -> int:
    """Count rows of ``table`` straight from the database, bypassing ots."""
    return int(sql(database_url, f"SELECT count(*) FROM {table} WHERE {where}")[0][0])


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_snippet(name: str) -> Callable[..., Any]:
    """Run the README's Python block marked ``snippet:NAME``; return the function it defines.

    The block defines one function of the same name as the marker, with
    dashes as underscores (``verify-webhook`` defines ``verify_webhook``).
    """
    text = README.read_text()
    start = text.index(f"<!-- snippet:{name} -->")
    begin = text.index("```python\n", start) + len("```python\n")
    namespace: dict[str, Any] = {}
    exec(text[begin : text.index("```\n", begin)], namespace)  # noqa: S102 - our own README
    function: Callable[..., Any] = namespace[name.replace("-", "_")]
    return function


class Receiver:
    """A real webhook receiver: an HTTP server in a thread that records each delivery.

    It answers ``fail_status`` to the first ``fail_first`` requests (a 3xx
    redirects to itself), then 204.
    """

    def __init__(
        self, port: int | None = None, fail_first: int = 0, fail_status: int = 500
    ) -> None:
        """Listen on 127.0.0.1:``port`` (a free one by default) once entered."""
        self.port = port or free_port()
        self.fail_first = fail_first
        self.attempts = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    outer.attempts += 1
                    failing = outer.attempts <= outer.fail_first
                    if not failing:
                        outer.received.append((dict(self.headers.items()), body))
                self.send_response(fail_status if failing else 204)
                if failing and 300 <= fail_status < 400:
                    self.send_header("Location", outer.url)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                del args

        self._handler = Handler
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        """Where to send events."""
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far."""
        return [json.loads(body) for _, body in self.received]

    def __enter__(self) -> Receiver:
        """Start serving."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


class HungReceiver:
    """A webhook receiver that accepts every connection and never answers a byte.

    It counts the connections it accepted, those open right now and the most
    that were open at once (``peak``): each is one send under way to it.
    """

    def __init__(self) -> None:
        """Listen on a free port of 127.0.0.1 once entered."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: list[socket.socket] = []

    def url(self, host: str = "127.0.0.1") -> str:
        """Where to send events, naming the receiver ``host`` (which must resolve here)."""
        return f"http://{host}:{self.port}/hook"

    def __enter__(self) -> HungReceiver:
        """Start accepting."""
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop accepting and drop every connection."""
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for connection in self._connections:
                connection.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
                self._connections.append(connection)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        # Read the request and say nothing, until the sender gives up and closes.
        with contextlib.suppress(OSError):
            while connection.recv(65536):
                pass
        with self._lock:
            self.open -= 1


def server_processes(port: int) -> list[int]:
    """Return the pids of the processes of a server started with ``OTS_PORT=port`` (Linux).

    Workers inherit the environment, so the variable finds the main process and each worker.
    """
    wanted = f"OTS_PORT={port}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in environ:
            pids.append(int(entry.name))
    return pids


def process_memory(pid: int) -> bytes:
    """Return every readable byte of a process's memory (Linux, as root or its owner)."""
    chunks = []
    with (
        open(f"/proc/{pid}/maps") as maps,
        open(f"/proc/{pid}/mem", "rb", 0) as mem,
    ):
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(part, 16) for part in span.split("-"))
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, OverflowError, ValueError):
                continue  # [vvar] and the like cannot be read; nothing of ours is there
    return b"".join(chunks)
