"""A real `ots serve` with two workers on both databases: races, restarts, data at rest, logs."""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ots import crypto, db, sealed
from ots.config import Settings
from tests.support import (
    REDIS_URL,
    count_rows,
    create_secret,
    eventually,
    free_port,
    make_settings,
    needs_redis,
    process_memory,
    running_server,
    server_processes,
    settings_env,
    wait_until_healthy,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_settings(migrated_db: str) -> Settings:
    """Settings for a two-worker server on the session database."""
    return make_settings(migrated_db, port=free_port(), workers=2, access_log=True)


@pytest.fixture(scope="module")
def server(
    server_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A running two-worker server and the file its output goes to."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(server_settings, log) as base:
        yield base, log


async def _race(base: str, key: str, passphrase: str, clients: int) -> list[httpx.Response]:
    # One connection per client, all released at once.
    async def one() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{base}/secrets/{key}", json={"passphrase": passphrase})

    return await asyncio.gather(*(one() for _ in range(clients)))


def test_concurrent_reveals_exactly_one_wins(server: tuple[str, Path]) -> None:
    """However many clients race on two workers, exactly one gets 200, the rest 404."""
    base, _ = server
    for round_ in range(5):
        key = create_secret(base, f"race-{round_}", "pw").secret_key
        responses = asyncio.run(_race(base, key, "pw", clients=16))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [404] * 15
        winner = next(r for r in responses if r.status_code == 200)
        assert winner.json() == {"secret": f"race-{round_}"}


def _share_sealed(
    base: str, plaintext: bytes, passphrase: str | None = None
) -> tuple[sealed.SealedSecret, dict[str, str]]:
    made = sealed.seal(plaintext, passphrase)
    response = httpx.post(f"{base}/generate", json=made.request(), timeout=30)
    assert response.status_code == 201, response.text
    return made, response.json()


def _proof(made: sealed.SealedSecret, passphrase: str | None = None) -> str:
    return sealed.b64encode(sealed.derive(made.link_key, passphrase).proof)


async def _race_proofs(base: str, key: str, proofs: list[str]) -> list[httpx.Response]:
    async def one(proof: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{base}/secrets/{key}", json={"proof": proof})

    return await asyncio.gather(*(one(proof) for proof in proofs))


def test_concurrent_sealed_reveals_exactly_one_wins(server: tuple[str, Path]) -> None:
    """Sealed mode: of 16 racing right proofs on two workers, one gets the ciphertext."""
    base, _ = server
    for round_ in range(5):
        made, created = _share_sealed(base, f"sealed-race-{round_}".encode())
        responses = asyncio.run(_race_proofs(base, created["secret_key"], [_proof(made)] * 16))
        assert sorted(r.status_code for r in responses) == [200] + [404] * 15
        body = next(r for r in responses if r.status_code == 200).json()
        envelope = sealed.Envelope.from_json(body["envelope"])
        keys = sealed.derive(made.link_key, None)
        opened = sealed.open_sealed(sealed.b64decode(body["ciphertext"]), envelope, keys)
        assert opened == f"sealed-race-{round_}".encode()


def test_concurrent_wrong_proofs_lose_no_update(server: tuple[str, Path]) -> None:
    """Ten racing wrong proofs count as wrong passphrases do: 4..0, then the secret is gone."""
    base, _ = server
    made, created = _share_sealed(base, b"guarded")
    wrong = [sealed.b64encode(bytes([n]) * 32) for n in range(10)]
    responses = asyncio.run(_race_proofs(base, created["secret_key"], wrong))
    left = sorted(r.json()["attempts_left"] for r in responses if r.status_code == 403)
    assert left == [0, 1, 2, 3, 4]
    assert sum(r.status_code == 404 for r in responses) == 5
    again = asyncio.run(_race_proofs(base, created["secret_key"], [_proof(made)]))
    assert again[0].status_code == 404


def test_concurrent_wrong_passphrases_lose_no_update(server: tuple[str, Path]) -> None:
    """Ten racing wrong passphrases: five 403s counting 4..0, then the secret is gone."""
    base, _ = server
    key = create_secret(base, "guarded", "right").secret_key
    responses = asyncio.run(_race(base, key, "wrong", clients=10))
    left = sorted(r.json()["attempts_left"] for r in responses if r.status_code == 403)
    assert left == [0, 1, 2, 3, 4]
    assert sum(r.status_code == 404 for r in responses) == 5
    assert httpx.post(f"{base}/secrets/{key}", json={"passphrase": "right"}).status_code == 404


def test_burn_racing_reveals_has_one_winner(server: tuple[str, Path]) -> None:
    """A burn racing reveals across two workers: one wins and the receipt says which."""
    base, _ = server

    async def race(key: str, receipt: str) -> tuple[int, list[int], str]:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as a,
            httpx.AsyncClient(base_url=base, timeout=30) as b,
        ):
            burned, *reveals = await asyncio.gather(
                a.post(f"/receipts/{receipt}/burn"),
                *(b.post(f"/secrets/{key}", json={"passphrase": "pw"}) for _ in range(3)),
            )
            state = (await a.get(f"/receipts/{receipt}")).json()["state"]
        return burned.status_code, [r.status_code for r in reveals], state

    for _ in range(8):
        created = create_secret(base, "contested", "pw")
        key, receipt = created.secret_key, created.receipt_key
        burn_status, reveal_statuses, state = asyncio.run(race(key, receipt))
        if burn_status == 200:
            assert reveal_statuses == [404, 404, 404]
            assert state == "burned"
        else:
            assert burn_status == 409
            assert sorted(reveal_statuses) == [200, 404, 404]
            assert state == "revealed"


def test_right_passphrase_racing_wrong_ones_is_consistent(server: tuple[str, Path]) -> None:
    """The right passphrase racing six wrong ones: revealed once, or destroyed; never both."""
    base, _ = server

    async def race(key: str, receipt: str) -> tuple[int, list[int], str]:
        async def one(passphrase: str) -> int:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                response = await client.post(f"/secrets/{key}", json={"passphrase": passphrase})
                return response.status_code

        right, *wrong = await asyncio.gather(one("pw"), *(one("nope") for _ in range(6)))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            state = (await client.get(f"/receipts/{receipt}")).json()["state"]
        return right, wrong, state

    for _ in range(6):
        created = create_secret(base, "contested", "pw")
        key, receipt = created.secret_key, created.receipt_key
        right, wrong, state = asyncio.run(race(key, receipt))
        assert set(wrong) <= {403, 404}
        if right == 200:
            assert state == "revealed"
            assert wrong.count(403) < 5
        else:
            assert (right, state) == (404, "burned")
            assert wrong.count(403) == 5


MARK_SECRET = "Zebra-Secret-7f3a9c-plaintext"
MARK_PASSPHRASE = "Quokka-Passphrase-51be0d"


def _encodings(value: str) -> list[bytes]:
    raw = value.encode()
    return [
        raw,
        value.encode("utf-16-le"),
        raw.hex().encode(),
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
    ]


def _database_bytes(settings: Settings) -> bytes:
    if settings.is_sqlite:
        path = Path(db.sqlite_path(settings.database_url))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--inserts",
            settings.database_url.replace("postgres://", "postgresql://", 1),
        ],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def test_nothing_readable_at_rest_or_in_logs(
    server: tuple[str, Path], server_settings: Settings
) -> None:
    """The raw database and the server output hold no secret, passphrase or key."""
    base, log = server
    pairs = [create_secret(base, f"{MARK_SECRET}-{i}", MARK_PASSPHRASE) for i in range(4)]
    keys = [created.secret_key for created in pairs]
    receipts = [created.receipt_key for created in pairs]
    httpx.get(f"{base}/secrets/{keys[0]}")
    httpx.get(f"{base}/receipts/{receipts[0]}")
    httpx.post(f"{base}/receipts/{receipts[3]}/burn")
    httpx.post(f"{base}/secrets/{keys[1]}", json={"passphrase": "wrong-one"})
    httpx.post(f"{base}/secrets/{keys[2]}", json={"passphrase": MARK_PASSPHRASE})
    httpx.get(f"{base}/secrets/{keys[2]}")
    stored = _database_bytes(server_settings)
    assert stored, "the scan read nothing"
    output = log.read_bytes()
    assert b"[redacted]" in output, "the access log did not run"
    assert b"/receipts/[redacted]" in output
    for needle in [MARK_SECRET, MARK_PASSPHRASE, "wrong-one", *keys, *receipts]:
        for encoded in _encodings(needle):
            assert encoded not in stored, f"{needle!r} found at rest"
            assert encoded not in output, f"{needle!r} found in the log"
    # The audit log: exactly one line per event of these secrets, named by fingerprint.
    names = {crypto.fingerprint(crypto.secret_lookup(key)): n for n, key in enumerate(keys)}
    audited = collections.defaultdict(list)
    for line in output.decode().splitlines():
        if line.startswith('{"time"'):
            entry = json.loads(line)
            if entry["receipt"] in names:
                audited[names[entry["receipt"]]].append(entry["event"])
    assert dict(audited) == {
        0: ["created", "checked"],
        1: ["created", "wrong_passphrase"],
        2: ["created", "revealed"],
        3: ["created", "burned"],
    }


MARK_SEALED = b"Narwhal-Sealed-2c7e41-plaintext"
MARK_SEALED_PASSPHRASE = "Ibex-Sealed-Passphrase-9d03aa"


def test_sealed_secrets_never_reach_the_server(
    server: tuple[str, Path], server_settings: Settings
) -> None:
    """Sealed mode: no plaintext, passphrase or link key in the database, log or memory.

    The server's processes never receive them; the database also holds neither the
    client's ciphertext nor its verifier (sealed again, and a digest).
    """
    base, log = server
    shared = [
        _share_sealed(base, MARK_SEALED + b"-0"),
        _share_sealed(base, MARK_SEALED + b"-1", MARK_SEALED_PASSPHRASE),
        _share_sealed(base, MARK_SEALED + b"-2"),
    ]
    (made0, created0), (made1, created1), (_, created2) = shared
    assert (
        httpx.post(
            f"{base}/secrets/{created0['secret_key']}", json={"proof": _proof(made0)}
        ).status_code
        == 200
    )
    wrong = httpx.post(
        f"{base}/secrets/{created1['secret_key']}", json={"proof": _proof(made1, "not it")}
    )
    assert wrong.status_code == 403
    httpx.get(f"{base}/secrets/{created2['secret_key']}")
    httpx.post(f"{base}/receipts/{created2['receipt_key']}/burn")
    stored = _database_bytes(server_settings)
    assert stored, "the scan read nothing"
    output = log.read_bytes()
    pids = server_processes(server_settings.port)
    assert len(pids) >= 3, "the main process and two workers"
    memory = b"".join(process_memory(pid) for pid in pids)
    assert len(memory) > 10_000_000, "the memory scan read too little"
    assert MARK_SEALED + b"-0" not in memory
    never = [MARK_SEALED.decode(), MARK_SEALED_PASSPHRASE]
    for made, created in shared:
        never += [made.link_key.hex(), sealed.b64encode(made.link_key), created["secret_key"]]
    for needle in never:
        for encoded in _encodings(needle):
            assert encoded not in stored, f"{needle!r} found at rest"
            assert encoded not in output, f"{needle!r} found in the log"
    for made, _ in shared:
        for value in (made.link_key, MARK_SEALED):
            assert value not in memory, "found in a server process"
        for sent in (made.ciphertext, made.verifier):
            assert sent not in stored
            assert sealed.b64encode(sent).encode() not in stored
    assert MARK_SEALED_PASSPHRASE.encode() not in memory


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_created_secret_survives_the_server_dying(
    db_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    """A 201 means committed: secrets (either mode) are readable after a kill and a restart."""
    settings = make_settings(db_url, port=free_port(), workers=1)
    base = f"http://127.0.0.1:{settings.port}"
    command = [sys.executable, "-m", "ots.cli", "serve"]
    with (tmp_path / "first.log").open("w") as log:
        proc = subprocess.Popen(
            command, env=settings_env(settings), stdout=log, stderr=log, start_new_session=True
        )
        try:
            wait_until_healthy(base, proc)
            key = create_secret(base, "durable", "pw").secret_key
            made, created = _share_sealed(base, b"durable too")
        finally:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)
    with running_server(settings, tmp_path / "second.log") as base:
        response = httpx.post(f"{base}/secrets/{key}", json={"passphrase": "pw"})
        sealed_key = created["secret_key"]
        released = httpx.post(f"{base}/secrets/{sealed_key}", json={"proof": _proof(made)})
    assert response.json() == {"secret": "durable"}
    # A sealed secret is as durable: its 201 meant committed too.
    assert released.status_code == 200
    body = released.json()
    keys = sealed.derive(made.link_key, None)
    opened = sealed.open_sealed(
        sealed.b64decode(body["ciphertext"]), sealed.Envelope.from_json(body["envelope"]), keys
    )
    assert opened == b"durable too"


def test_workers_sweep_expired_secrets_in_the_background(db_url: str, tmp_path: Path) -> None:
    """With no request at all, the two workers' sweepers delete expired rows."""
    settings = make_settings(db_url, port=free_port(), workers=2, sweep_interval=0.2)
    with running_server(settings, tmp_path / "sweep.log") as base:
        created = [
            httpx.post(
                f"{base}/generate", json={"secret": "short", "passphrase": "p", "ttl": 1}
            ).json()
            for _ in range(3)
        ]
        last_expiry = max(
            int(
                datetime.strptime(c["expires_at"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=UTC)
                .timestamp()
            )
            for c in created
        )
        assert count_rows(db_url, f"expires_at <= {last_expiry}") >= 3
        eventually(
            lambda: not count_rows(db_url, f"expires_at <= {last_expiry}"),
            "expired secrets swept",
        )
        assert "Traceback" not in (tmp_path / "sweep.log").read_text()


@needs_redis
def test_redis_makes_one_limit_across_workers(db_url: str, tmp_path: Path) -> None:
    """With Redis storage, two workers share one count: 10/minute means 10 in total."""
    redis_url = REDIS_URL
    subprocess.run(
        ["redis-cli", "-u", redis_url, "FLUSHDB"], check=True, capture_output=True, timeout=10
    )
    settings = make_settings(
        db_url,
        port=free_port(),
        workers=2,
        rate_limit="10/minute",
        rate_limit_storage=redis_url,
    )
    with running_server(settings, tmp_path / "redis.log") as base:
        # A new connection per request, so the kernel spreads them over both workers.
        statuses = [httpx.get(f"{base}/secrets/{'A' * 32}").status_code for _ in range(30)]
        health = httpx.get(f"{base}/health").json()
    assert statuses.count(404) == 10
    assert statuses.count(429) == 20
    assert health == {"status": "ok", "database": "ok"}


def _checks_404(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    found = re.search(
        r'ots_http_requests_total\{method="GET",operation="check_secret",status="404"\} (\S+)',
        text,
    )
    return float(found[1]) if found else 0.0


def test_metrics_count_every_worker(server: tuple[str, Path]) -> None:
    """One scrape, answered by either worker, counts the requests both workers served."""
    base, log = server
    before = _checks_404(base)
    served_before = log.read_text().count("/secrets/[redacted] 404")

    async def probe(count: int) -> None:
        # A connection per request, so that both workers take some of them.
        async def one() -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                await client.get(f"{base}/secrets/{'A' * 32}")

        await asyncio.gather(*(one() for _ in range(count)))

    def probe_lines() -> list[str]:
        lines = [line for line in log.read_text().splitlines() if "/secrets/[redacted] 404" in line]
        return lines[served_before:]

    sent = 0
    workers: set[str] = set()
    # The kernel hands connections to the workers; a few rounds give each some.
    while workers != {"Srv 0", "Srv 1"} and sent < 200:
        asyncio.run(probe(20))
        sent += 20
        eventually(lambda n=sent: len(probe_lines()) == n, "every request in the access log")
        # The access log says which worker ("Srv 0", "Srv 1") served each request.
        workers = {line.split("|")[0] for line in probe_lines()}
    assert workers == {"Srv 0", "Srv 1"}, "both workers must have served some"
    assert _checks_404(base) - before == sent


def kdf_in_flight(base: str) -> float:
    """The server's argon2id jobs running or waiting, from its metrics."""
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        if family.name == "ots_kdf_in_flight":
            return sum(sample.value for sample in family.samples)
    return 0.0


def test_abandoned_request_is_499_not_500(db_url: str, tmp_path: Path) -> None:
    """A client that leaves during the argon2 work is logged and counted as 499, never 500."""
    settings = make_settings(
        db_url, port=free_port(), argon2_time_cost=4, argon2_memory_kib=131072, access_log=True
    )
    log = tmp_path / "server.log"
    with running_server(settings, log) as base:
        body = b'{"secret": "s", "passphrase": "p"}'
        with socket.create_connection(("127.0.0.1", settings.port)) as conn:
            conn.sendall(
                b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            # Read, and hashing: the hash takes far longer than these looks.
            eventually(lambda: kdf_in_flight(base) >= 1, "the create's hash under way", poll=0.02)
        eventually(lambda: "/generate 499" in log.read_text(), "the abandoned request logged")
        scrape = httpx.get(f"{base}/metrics").text
    assert 'operation="generate_secret",status="499"' in scrape
    assert " 500 " not in log.read_text()
    assert "Traceback" not in log.read_text()
