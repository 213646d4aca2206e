"""Flat-cost benchmark: ots with a million secrets stored, and while a million expire.

Usage::

    python -m tests.benchmark_flat --database sqlite
    python -m tests.benchmark_flat --database postgres://postgres@127.0.0.1:5432/ots_flat

It starts ``ots serve`` (2 workers, a cheap argon2id so the service's own
costs show) on a new database and drives it with clients that each create
a secret and reveal it, in a loop, for a fixed time. Two measurements:

- **flat**: the create and reveal rates with ``--baseline`` (1,000) live
  secrets stored, then again after ``--stored`` (1,000,000) more were
  written straight into the tables (not through the API: seconds instead of
  an hour); the ratio should stay within 10 %.
- **sweep**: reveal latency while the sweeper deletes ``--stored`` expired
  secrets (written the same way), against the same server's latency just
  before; the p99 during the sweep should stay within twice the one before.

The PostgreSQL database named in the URL is dropped and created anew.
Figures go to stdout; nothing is asserted (speed is measured, never tested).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

RETENTION = 604800
# The server under test: cheap argon2id, no rate limit or quota in the way,
# a sweep every 5 s (the first one at start, on an empty table).
SERVER_ENV = {
    "OTS_WORKERS": "2",
    "OTS_ARGON2_TIME_COST": "1",
    "OTS_ARGON2_MEMORY_KIB": "8",
    "OTS_ARGON2_PARALLELISM": "1",
    "OTS_RATE_LIMIT": "100000000/minute",
    "OTS_MAX_LIVE_SECRETS": "100000000",
    "OTS_MAX_STORED_BYTES": str(1 << 40),
    "OTS_CLIENT_SHARE": "1",
    "OTS_SWEEP_INTERVAL": "5",
}


@dataclass
class Window:
    """What the clients saw in one measuring window."""

    seconds: float
    creates: list[float]
    reveals: list[float]

    @property
    def create_rate(self) -> float:
        """Creates per second."""
        return len(self.creates) / self.seconds

    @property
    def reveal_rate(self) -> float:
        """Reveals per second."""
        return len(self.reveals) / self.seconds

    @property
    def reveal_p99(self) -> float:
        """99th percentile of reveal latency, in seconds."""
        ordered = sorted(self.reveals)
        return ordered[int(0.99 * (len(ordered) - 1))]

    def line(self, name: str) -> str:
        """One line of figures."""
        return (
            f"{name:34} create {self.create_rate:7.1f}/s  reveal {self.reveal_rate:7.1f}/s  "
            f"reveal p99 {self.reveal_p99 * 1000:6.1f} ms  ({self.seconds:.0f} s)"
        )


class Connection:
    """A bare HTTP/1.1 keep-alive connection: httpx would be the bottleneck here.

    (httpx tops out near 500 requests/s on this 2-core machine, while ots
    answers /health at several thousand.)
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wrap an open stream pair."""
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        """Connect to ``url``'s host and port."""
        parts = urlsplit(url)
        return cls(*await asyncio.open_connection(parts.hostname, parts.port))

    async def post(self, path: str, document: dict[str, str]) -> dict[str, str]:
        """POST JSON; return the JSON answer, failing on any status but 200 and 201."""
        body = json.dumps(document).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        if status not in (200, 201):
            raise SystemExit(f"POST {path}: {status} {answer[:200]!r}")
        return json.loads(answer)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


async def load(url: str, clients: int, until: float | threading.Event) -> Window:
    """``clients`` loops of create-then-reveal until a deadline or an event."""
    creates: list[float] = []
    reveals: list[float] = []

    def done() -> bool:
        if isinstance(until, threading.Event):
            return until.is_set()
        return time.monotonic() >= until

    async def client(n: int) -> None:
        conn = await Connection.open(url)
        i = 0
        while not done():
            i += 1
            started = time.perf_counter()
            made = await conn.post("/generate", {"secret": f"s{n}.{i}", "passphrase": "pw"})
            middle = time.perf_counter()
            await conn.post(f"/secrets/{made['secret_key']}", {"passphrase": "pw"})
            creates.append(middle - started)
            reveals.append(time.perf_counter() - middle)
        conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return Window(time.monotonic() - started, creates, reveals)


class Database:
    """A new ots database and bulk writes of filler secrets straight into its tables."""

    def __init__(self, url: str, scratch: Path) -> None:
        """``url`` is "sqlite" (a file in ``scratch``) or a PostgreSQL URL."""
        self.sqlite = url == "sqlite"
        self.url = f"sqlite://{scratch / 'flat.sqlite3'}" if self.sqlite else url
        self.filled = 0

    def create(self) -> None:
        """Make the database empty (PostgreSQL: drop and create it)."""
        if self.sqlite:
            return
        parts = urlsplit(self.url)
        name = parts.path.lstrip("/")
        admin = parts._replace(path="/postgres").geturl()

        async def recreate() -> None:
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(recreate())

    def fill(self, count: int, expires_in: int) -> float:
        """Write ``count`` secrets (with receipts) expiring ``expires_in`` s from now; seconds."""
        started = time.monotonic()
        now = int(time.time())
        first, self.filled = self.filled, self.filled + count
        # Lookups of the filler rows: 64 characters no real lookup (hex) can equal.
        secret = (
            "INSERT INTO secret (lookup, salt, nonce, ciphertext, kdf_time_cost, kdf_memory_kib, "
            "kdf_parallelism, key_id, created_at, expires_at) SELECT {lookup}, {salt}, {nonce}, "
            "{ciphertext}, 1, 8, 1, NULL, {now}, {expires} FROM {series}"
        )
        receipt = (
            "INSERT INTO receipt (lookup, secret_lookup, state, created_at, expires_at, "
            "failed_attempts, purge_at) SELECT {rlookup}, {lookup}, 'pending', {now}, {expires}, "
            "0, {purge} FROM {series}"
        )
        values = {"now": now, "expires": now + expires_in, "purge": now + expires_in + RETENTION}
        if self.sqlite:
            sql = {
                "lookup": "printf('f%063d', i)",
                "rlookup": "printf('r%063d', i)",
                "salt": "randomblob(16)",
                "nonce": "randomblob(12)",
                "ciphertext": "randomblob(64)",
                "series": f"(WITH RECURSIVE n(i) AS (SELECT {first + 1} UNION ALL SELECT i + 1 "
                f"FROM n WHERE i < {first + count}) SELECT i FROM n)",
            }
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=60)
            try:
                with conn:
                    for statement in (secret, receipt):
                        conn.execute(statement.format(**sql, **values))
            finally:
                conn.close()
        else:
            sql = {
                "lookup": "'f' || lpad(i::text, 63, '0')",
                "rlookup": "'r' || lpad(i::text, 63, '0')",
                "salt": "decode(md5(i::text), 'hex')",
                "nonce": "substring(decode(md5(i::text), 'hex') from 1 for 12)",
                "ciphertext": "decode(repeat(md5(i::text), 4), 'hex')",
                "series": f"generate_series({first + 1}, {first + count}) AS i",
            }

            async def insert() -> None:
                conn = await asyncpg.connect(self.url)
                try:
                    async with conn.transaction():
                        for statement in (secret, receipt):
                            await conn.execute(statement.format(**sql, **values))
                    await conn.execute("ANALYZE secret; ANALYZE receipt")
                finally:
                    await conn.close()

            asyncio.run(insert())
        return time.monotonic() - started

    def expired_left(self) -> int:
        """How many expired secrets the table still holds."""
        query = "SELECT count(*) FROM secret WHERE expires_at <= $1"
        now = int(time.time())
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=60)
            try:
                return int(conn.execute(query.replace("$1", "?"), (now,)).fetchone()[0])
            finally:
                conn.close()

        async def count() -> int:
            conn = await asyncpg.connect(self.url)
            try:
                return int(await conn.fetchval(query, now))
            finally:
                await conn.close()

        return asyncio.run(count())


class Server:
    """``ots serve`` in a child process, its audit log (stdout) read line by line."""

    def __init__(self, database_url: str, scratch: Path) -> None:
        """Migrate the database and start serving it on a free port."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("OTS_")
        } | SERVER_ENV
        env |= {
            "OTS_DATABASE_URL": database_url,
            "OTS_PORT": str(port),
            "OTS_SERVER_KEY_FILE": str(scratch / "ots.key"),
        }
        ots = str(Path(sys.executable).with_name("ots"))
        self.swept = 0
        self.process = subprocess.Popen(
            [ots, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("ots serve did not answer within 60 s")

    def _read(self) -> None:
        # One "expired" event per secret swept, whether by the sweeper task or
        # by the bounded sweep that rides on a create.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if '"event":"expired"' in line:
                self.swept += 1

    def stop(self) -> None:
        """SIGTERM, and wait."""
        self.process.terminate()
        self.process.wait(30)


def measure(url: str, clients: int, seconds: float) -> Window:
    """One fixed-length window of the create-and-reveal loop."""
    return asyncio.run(load(url, clients, time.monotonic() + seconds))


def flat(database: Database, server: Server, args: argparse.Namespace) -> None:
    """Rates with ``--baseline`` secrets stored, then with ``--stored`` more."""
    print(f"filled {args.baseline:,} live secrets in {database.fill(args.baseline, 86400):.1f} s")
    measure(server.url, args.clients, 3)  # warm-up
    small = measure(server.url, args.clients, args.seconds)
    print(small.line(f"flat: {args.baseline:,} stored"))
    print(f"filled {args.stored:,} live secrets in {database.fill(args.stored, 86400):.1f} s")
    measure(server.url, args.clients, 3)
    large = measure(server.url, args.clients, args.seconds)
    print(large.line(f"flat: {args.baseline + args.stored:,} stored"))
    print(
        f"flat: create x{large.create_rate / small.create_rate:.2f}, "
        f"reveal x{large.reveal_rate / small.reveal_rate:.2f} "
        f"with {args.baseline + args.stored:,} stored against {args.baseline:,} (goal: >= x0.90)"
    )


def sweep(database: Database, server: Server, args: argparse.Namespace) -> None:
    """Reveal p99 while ``--stored`` expired secrets are swept, against just before."""
    before = measure(server.url, args.clients, args.seconds)
    print(before.line("sweep: before"))
    swept_before = server.swept
    print(f"filled {args.stored:,} expired secrets in {database.fill(args.stored, -60):.1f} s")
    finished = threading.Event()

    def watch() -> None:
        # Done when no expired secret is left (the events say how many went).
        while database.expired_left() and server.process.poll() is None:
            time.sleep(1)
        finished.set()

    threading.Thread(target=watch, daemon=True).start()
    started = time.monotonic()
    during = asyncio.run(load(server.url, args.clients, finished))
    print(during.line("sweep: while sweeping"))
    print(
        f"sweep: {args.stored:,} expired secrets gone within {time.monotonic() - started:.0f} s "
        f"of the fill ({server.swept - swept_before:,} expired events logged); reveal p99 "
        f"x{during.reveal_p99 / before.reveal_p99:.2f} of before (goal: <= x2)"
    )


def main() -> None:
    """Parse arguments and run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", help='"sqlite" or a PostgreSQL URL')
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = Database(args.database, Path(scratch))
        database.create()
        server = Server(database.url, Path(scratch))
        try:
            flat(database, server, args)
            sweep(database, server, args)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
