"""Requests against a real two-worker `ots serve` on both databases: races, scans, the CLI."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import resource
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ots import request, sealed
from ots.client import AlreadyAnswered, Client
from ots.config import Settings
from tests.integration.test_client_cli import ots
from tests.integration.test_server import _database_bytes, _encodings
from tests.support import free_port, make_settings, process_memory, running_server, server_processes

pytestmark = pytest.mark.slow

MARK_ANSWER = b"Axolotl-Answer-6d1f2b-plaintext"


@pytest.fixture(scope="module")
def server_settings(migrated_db: str) -> Settings:
    """Settings for a two-worker server on the module's database."""
    return make_settings(migrated_db, port=free_port(), workers=2, access_log=True)


@pytest.fixture(scope="module")
def server(
    server_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A running two-worker server and the file its output goes to."""
    log = tmp_path_factory.mktemp("requests") / "server.log"
    with running_server(server_settings, log) as base:
        yield base, log


def _ask(base: str) -> tuple[request.Asker, dict[str, str]]:
    asker = request.new_asker()
    body = {"verifier": sealed.b64encode(asker.verifier)}
    response = httpx.post(f"{base}/requests", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return asker, response.json()


async def _race(base: str, calls: list[tuple[str, dict[str, object]]]) -> list[httpx.Response]:
    async def one(path: str, body: dict[str, object]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(f"{base}{path}", json=body)

    return await asyncio.gather(*(one(path, body) for path, body in calls))


def test_racing_answers_exactly_one_is_kept(server: tuple[str, Path]) -> None:
    """Of 16 racing answers on two workers, one gets 201, the rest 409; it reveals as sent."""
    base, _ = server
    for round_ in range(3):
        asker, created = _ask(base)
        path = f"/requests/{created['request_key']}/answer"
        bodies = [
            request.seal_answer(f"answer-{round_}-{i}".encode(), asker.public_key).body()
            for i in range(16)
        ]
        responses = asyncio.run(_race(base, [(path, body) for body in bodies]))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 15
        assert {r.json()["error"] for r in responses if r.status_code == 409} == {
            "already_answered"
        }
        winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
        proof = {"proof": sealed.b64encode(asker.proof)}
        reveals = asyncio.run(_race(base, [(f"/secrets/{created['answer_key']}", proof)] * 16))
        assert sorted(r.status_code for r in reveals) == [200] + [404] * 15
        body = next(r for r in reveals if r.status_code == 200).json()
        envelope = request.Envelope.from_json(body["envelope"])
        opened = request.open_answer(sealed.b64decode(body["ciphertext"]), envelope, asker)
        assert opened == f"answer-{round_}-{winner}".encode()


def test_a_burn_racing_answers_leaves_nothing_to_read(server: tuple[str, Path]) -> None:
    """A burn raced by 8 answers on two workers: whichever lands first, the asker reads nothing."""
    base, _ = server
    for _ in range(6):
        asker, created = _ask(base)
        answer = request.seal_answer(b"raced", asker.public_key).body()
        calls: list[tuple[str, dict[str, object]]] = [
            (f"/requests/{created['request_key']}/answer", answer)
        ] * 8
        calls.insert(4, (f"/receipts/{created['receipt_key']}/burn", {}))
        responses = asyncio.run(_race(base, calls))
        burn = responses.pop(4)
        assert burn.status_code == 200, burn.text
        answered = sorted(r.status_code for r in responses)
        # At most one answer was stored (then burned); the others were too late or refused.
        assert answered.count(201) <= 1 and set(answered) <= {201, 404, 409}
        proof = {"proof": sealed.b64encode(asker.proof)}
        reveal = httpx.post(f"{base}/secrets/{created['answer_key']}", json=proof, timeout=30)
        assert reveal.status_code == 404, reveal.text
        receipt = httpx.get(f"{base}/receipts/{created['receipt_key']}", timeout=30).json()
        assert receipt["state"] == "burned"


def test_answers_never_reach_the_server(
    server: tuple[str, Path], server_settings: Settings
) -> None:
    """No plaintext, private key or proof in the database, the log or any server process."""
    base, log = server
    askers = []
    for i in range(3):
        asker, created = _ask(base)
        path = f"{base}/requests/{created['request_key']}/answer"
        answer = request.seal_answer(MARK_ANSWER + f"-{i}".encode(), asker.public_key)
        assert httpx.post(path, json=answer.body(), timeout=30).status_code == 201
        askers.append((asker, created))
    first, created0 = askers[0]
    revealed = httpx.post(
        f"{base}/secrets/{created0['answer_key']}", json={"proof": sealed.b64encode(first.proof)}
    )
    assert revealed.status_code == 200
    stored = _database_bytes(server_settings)
    assert stored, "the scan read nothing"
    output = log.read_bytes()
    pids = server_processes(server_settings.port)
    assert len(pids) >= 3, "the main process and two workers"
    memory = b"".join(process_memory(pid) for pid in pids)
    assert len(memory) > 10_000_000, "the memory scan read too little"
    never = [MARK_ANSWER.decode()]
    for asker, created in askers:
        never += [asker.answer_fragment[3:], created["answer_key"], created["request_key"]]
    for needle in never:
        for encoded in _encodings(needle):
            assert encoded not in stored, f"{needle!r} found at rest"
            assert encoded not in output, f"{needle!r} found in the log"
    for asker, _ in askers:
        for value in (asker.private_key[:32], asker.private_key, MARK_ANSWER):
            assert value not in memory, "found in a server process"
            assert value not in stored


def test_request_answer_reveal_with_the_cli(server: tuple[str, Path], tmp_path: Path) -> None:
    """`ots request` keeps the answer link in a 0600 file; `ots answer`, then `ots reveal`."""
    base, _ = server
    key_file = tmp_path / "answer-link"
    asked = ots("request", "--note", "VPN key?", "--json", "--key-file", str(key_file), server=base)
    assert asked.returncode == 0, asked.stderr
    printed = json.loads(asked.stdout)
    assert set(printed) >= {"request_link", "expires_at", "receipt_key"}
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    again = ots("request", "--key-file", str(key_file), server=base)
    assert again.returncode == 2
    link = printed["request_link"]
    assert ots("answer", link, server=base, stdin=b"the \x00 key\n").returncode == 0
    late = ots("answer", link, "--json", server=base, stdin=b"late")
    assert late.returncode == 1
    assert json.loads(late.stderr or late.stdout)["error"] == "already_answered"
    answer_link = key_file.read_text().strip()
    shown = ots("reveal", answer_link, server=base)
    assert (shown.returncode, shown.stdout) == (0, b"the \x00 key\n")
    assert ots("reveal", answer_link, server=base).returncode == 1
    receipt = ots("receipt", printed["receipt_key"], "--json", server=base)
    assert json.loads(receipt.stdout)["state"] == "revealed"


def test_the_key_file_is_made_before_the_request_and_never_left_empty(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    """A key file that cannot be made asks nothing; a request that fails leaves no empty file."""
    base, _ = server
    nowhere = tmp_path / "missing-directory" / "answer-link"
    refused = ots("request", "--key-file", str(nowhere), server=base)
    assert refused.returncode == 2
    assert b"cannot create" in refused.stderr
    key_file = tmp_path / "answer-link"
    down = ots("request", "--key-file", str(key_file), server=f"http://127.0.0.1:{free_port()}")
    assert down.returncode != 0
    assert not key_file.exists()


def test_a_key_file_that_cannot_be_written_prints_the_link(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    """The file made, the request made, the write refused (no room): the link is printed."""
    base, _ = server
    key_file = tmp_path / "answer-link"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    # No byte may be written to any file (Python ignores SIGXFSZ: the write fails, EFBIG).
    no_room = functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE, (0, 0))
    done = subprocess.run(
        [sys.executable, "-m", "ots.cli", "request", "--key-file", str(key_file), "--json"],
        env={**env, "OTS_URL": base, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        timeout=60,
        check=False,
        preexec_fn=no_room,  # a limit of the child only, set before it runs ots
    )
    assert done.returncode == 2, done.stderr
    assert b"cannot write" in done.stderr and b"printed instead" in done.stderr
    printed = json.loads(done.stdout)
    assert not key_file.exists()
    answer_link = printed["answer_link"]
    with Client(base) as client:
        client.answer_request(printed["request_link"], b"still reachable")
        assert client.reveal_answer(answer_link) == b"still reachable"


def test_request_with_the_python_client(server: tuple[str, Path]) -> None:
    """Client.create_request / answer_request / reveal_answer, and a second answer refused."""
    base, _ = server
    with Client(base) as client:
        asked = client.create_request("a note", 600)
        assert "answer_link=**" in repr(asked)
        state = client.request_state(asked.request_link)
        assert (state.state, state.note) == ("open", "a note")
        assert client.answer_request(asked.request_link, "hunter2").state == "answered"
        with pytest.raises(AlreadyAnswered):
            client.answer_request(asked.request_link, "again")
        assert client.reveal_answer(asked.answer_link) == b"hunter2"
