"""The server side of `ots`: settings, help, the database it expects, its address, sweep."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from ots import db, listen
from ots.config import HELP, Settings
from tests.support import (
    eventually,
    free_port,
    make_settings,
    run_bare,
    run_cli,
    running_server,
    server_command,
    server_processes,
    settings_env,
    wait_until_healthy,
)

BAD_SETTINGS = {
    "port-not-a-number": ("OTS_PORT", "http"),
    "port-out-of-range": ("OTS_PORT", "70000"),
    "ttl-order": ("OTS_DEFAULT_TTL", "10"),
    "argon2-memory": ("OTS_ARGON2_MEMORY_KIB", "4"),
    # 4 TiB: argon2 takes it, no machine here has it.
    "argon2-memory-beyond-the-machine": ("OTS_ARGON2_MEMORY_KIB", str(2**32 - 1)),
    "argon2-lanes-past-any-use": ("OTS_ARGON2_PARALLELISM", "1000"),
    "rate-limit": ("OTS_RATE_LIMIT", "lots"),
    "database-scheme": ("OTS_DATABASE_URL", "mysql://x"),
    "workers-zero": ("OTS_WORKERS", "0"),
}


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_bad_setting_stops_the_server_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    """`ots serve` with a bad value exits non-zero and names the variable."""
    result = run_bare("serve", cwd=tmp_path, **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert not list(tmp_path.iterdir()), "nothing may be created before the settings are valid"


def test_argon2_slower_than_the_response_timeout_stops_the_server(tmp_path: Path) -> None:
    """A hash that cannot finish within OTS_RESPONSE_TIMEOUT stops `ots serve`, naming the cost."""
    # 2^32 - 1 passes over 8 KiB: hours of work, against a one-second deadline.
    result = run_bare(
        "serve",
        cwd=tmp_path,
        OTS_ARGON2_TIME_COST=str(2**32 - 1),
        OTS_ARGON2_MEMORY_KIB="8",
        OTS_RESPONSE_TIMEOUT="1",
        OTS_PORT=str(free_port()),
    )
    assert result.returncode == 2, result.stderr
    assert "ots: bad setting OTS_ARGON2_TIME_COST: one argon2id hash" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_database_down_at_start_exits_with_a_clear_message() -> None:
    """With no database to reach, `ots serve` retries for OTS_DB_WAIT, then exits 1.

    How long it waits is proven on a fake clock (tests/unit/test_db.py); here, that it
    retried and what it says.
    """
    settings = make_settings("postgres://postgres@127.0.0.1:1/none", db_wait=1.0)
    result = run_cli(settings, "serve")
    assert result.returncode == 1
    assert "database not reachable yet" in result.stderr
    assert "cannot prepare the database" in result.stderr
    assert "OTS_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_database_is_a_file_in_the_working_directory(tmp_path: Path) -> None:
    """With no OTS_DATABASE_URL, `ots migrate` creates ots.sqlite3 where it is run."""
    result = run_bare("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ots.sqlite3").is_file()


def test_sweep_command_reports_what_it_removed(db_url: str) -> None:
    """`ots sweep` runs one bounded sweep and exits 0 (for cron or a scheduler)."""
    result = run_cli(make_settings(db_url), "sweep")
    assert result.returncode == 0, result.stderr
    assert "swept" in result.stdout


def test_migrations_ship_inside_the_wheel(tmp_path: Path) -> None:
    """The built wheel carries both migration histories inside the package."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=Path(db.__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("ots-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for dialect in ("sqlite", "postgres"):
        assert any(n.startswith(f"ots/migrations/{dialect}/models/0_") for n in names), names


def test_version_is_the_distributions() -> None:
    """`ots --version` prints the installed version."""
    result = subprocess.run(
        [sys.executable, "-m", "ots.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"ots {version('ots')}")


HELP_SETTINGS = {
    "serve": {"OTS_PORT", "OTS_DATABASE_URL", "OTS_RATE_LIMIT", "OTS_ARGON2_MEMORY_KIB"},
    "migrate": {"OTS_DATABASE_URL", "OTS_DB_WAIT", "OTS_SERVER_KEY_FILE"},
    "sweep": {"OTS_DATABASE_URL", "OTS_SWEEP_BATCH", "OTS_RECEIPT_RETENTION"},
    "keys": {"OTS_SERVER_KEY_FILE"},
}


@pytest.mark.parametrize(("command", "settings"), HELP_SETTINGS.items(), ids=HELP_SETTINGS.keys())
def test_help_lists_the_settings_of_each_command(
    tmp_path: Path, command: str, settings: set[str]
) -> None:
    """Each server subcommand's --help names the OTS_* variables it reads, with defaults."""
    result = run_bare(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    listed = set(re.findall(r"^  (OTS_\w+)", result.stdout, re.MULTILINE))
    assert settings <= listed
    if command != "serve":
        assert "OTS_PORT" not in listed
    assert "(default " in result.stdout


def test_every_setting_has_help() -> None:
    """No setting is missing from `ots serve --help`."""
    assert set(HELP) == {f.name for f in dataclasses.fields(Settings)}


def test_misspelled_variable_is_named_with_a_suggestion(tmp_path: Path) -> None:
    """An OTS_* variable nothing reads is warned about, with the setting it resembles."""
    result = run_bare("migrate", cwd=tmp_path, OTS_MAX_ATTEMTPS="3", OTS_URL="http://x")
    assert result.returncode == 0, result.stderr
    assert (
        "ots: warning: OTS_MAX_ATTEMTPS is not a setting of ots and is ignored; "
        "did you mean OTS_MAX_ATTEMPTS?"
    ) in result.stderr
    assert "OTS_URL" not in result.stderr


def test_sweep_never_creates_a_database(tmp_path: Path) -> None:
    """`ots sweep` on a path with no database says so, exits 1 and creates nothing."""
    result = run_bare("sweep", cwd=tmp_path, OTS_DATABASE_URL="sqlite://typo.sqlite3")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ots: there is no database at {tmp_path / 'typo.sqlite3'} (OTS_DATABASE_URL); "
        "nothing to sweep"
    )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["serve", "migrate", "sweep"])
def test_missing_database_directory_is_one_line(tmp_path: Path, command: str) -> None:
    """A SQLite path in a directory that does not exist: one line, exit 1, nothing created."""
    result = run_bare(command, cwd=tmp_path, OTS_DATABASE_URL="sqlite://nowhere/ots.sqlite3")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"ots: there is no directory {tmp_path / 'nowhere'} for the database "
        "(OTS_DATABASE_URL); create it, or fix the path"
    )
    assert not list(tmp_path.iterdir())


def test_migrate_says_when_it_creates_a_database(tmp_path: Path) -> None:
    """Creating a database is never silent."""
    result = run_bare("migrate", cwd=tmp_path, OTS_DATABASE_URL="sqlite://new.sqlite3")
    assert result.returncode == 0, result.stderr
    assert f"ots: creating a new database at {tmp_path / 'new.sqlite3'}" in result.stderr
    again = run_bare("migrate", cwd=tmp_path, OTS_DATABASE_URL="sqlite://new.sqlite3")
    assert "creating" not in again.stderr


@pytest.mark.slow
def test_serve_prints_its_address_and_no_access_log(tmp_path: Path) -> None:
    """`ots serve` says where it listens once it does; requests leave no access line by default."""
    settings = make_settings(f"sqlite://{tmp_path}/ots.sqlite3", port=free_port())
    with running_server(settings, tmp_path / "server.log") as base:
        assert httpx.get(f"{base}/secrets/{'A' * 32}").status_code == 404
    # Read once the server has stopped: everything it wrote is in the file.
    log = (tmp_path / "server.log").read_text()
    assert f"ots: serving http://127.0.0.1:{settings.port} (1 worker); API docs at /docs" in log
    assert "/secrets/" not in log


@pytest.mark.slow
def test_the_serving_line_comes_once_connections_are_taken(tmp_path: Path) -> None:
    """Several workers, each on a socket of its own: the line is printed once one listens.

    A script may wait for the line, then connect at once: it is not refused.
    """
    settings = make_settings(f"sqlite://{tmp_path}/ots.sqlite3", port=free_port(), workers=2)
    proc = subprocess.Popen(
        server_command(settings),
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True).start()
    try:
        line = ""
        while not line.startswith("ots: serving"):
            line = lines.get(timeout=60)
        assert (
            line
            == f"ots: serving http://127.0.0.1:{settings.port} (2 workers); API docs at /docs\n"
        )
        socket.create_connection(("127.0.0.1", settings.port), timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_busy_port_is_one_line_before_anything_is_created(tmp_path: Path) -> None:
    """A port in use stops `ots serve` with one line naming it, before any database exists."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_bare("serve", cwd=tmp_path, OTS_PORT=str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ots: bad setting OTS_PORT: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert not (tmp_path / "ots.sqlite3").exists()


def socket_inodes(pid: int) -> set[str]:
    """Return the inodes of the sockets process ``pid`` holds (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def tcp_sockets(port: int) -> list[tuple[str, str]]:
    """Return (state, inode) of each IPv4 TCP socket whose local port is ``port`` (Linux)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            found.append((fields[3], fields[9]))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_each_worker_listens_on_its_own_and_takes_a_share_of_the_connections(
    tmp_path: Path,
) -> None:
    """Two workers: two listening sockets, one each; 40 keep-alive clients land on both.

    With one socket shared, the worker that woke first took most of a burst
    of connections, and kept them (keep-alive) while the other idled.
    """
    settings = make_settings(f"sqlite://{tmp_path}/ots.sqlite3", port=free_port(), workers=2)
    listening, established = "0A", "01"
    with running_server(settings, tmp_path / "server.log") as base:
        # /health answers once one worker listens: wait for the other too.
        deadline = time.monotonic() + 30
        while [state for state, _ in tcp_sockets(settings.port)].count(listening) < 2:
            assert time.monotonic() < deadline, tcp_sockets(settings.port)
            time.sleep(0.05)
        clients = [httpx.Client(base_url=base) for _ in range(40)]
        try:
            assert all(client.get("/health").status_code == 200 for client in clients)
            sockets = tcp_sockets(settings.port)
            owners = {pid: socket_inodes(pid) for pid in server_processes(settings.port)}
        finally:
            for client in clients:
                client.close()

    def holders(state: str) -> list[int]:
        inodes = [inode for found, inode in sockets if found == state]
        return [pid for pid, held in owners.items() for inode in inodes if inode in held]

    workers = holders(listening)
    assert len(workers) == 2 == len(set(workers)), sockets
    served = [pid for pid in holders(established) if pid in workers]
    assert len(served) == 40
    # Spread by a hash of each client's port: one worker with none is a 2**-39 chance.
    assert set(served) == set(workers)


def listening_workers(port: int) -> list[int]:
    """Return the pids of the processes listening on ``port`` (Linux)."""
    inodes = {inode for state, inode in tcp_sockets(port) if state == "0A"}
    listening = []
    for pid in server_processes(port):
        with contextlib.suppress(OSError):  # it ended meanwhile
            if socket_inodes(pid) & inodes:
                listening.append(pid)
    return listening


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not listen.can_share_port(), reason="the workers share one socket here")
def test_workers_stop_when_the_main_process_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of the main process: its workers stop by themselves and let the port go.

    Orphaned workers once served on, with the old settings, on sockets of their
    own that a restarted ``ots serve`` then shared with them.
    """
    settings = make_settings(f"sqlite://{tmp_path}/ots.sqlite3", port=free_port(), workers=2)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            server_command(settings),
            env=settings_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_healthy(f"http://{settings.host}:{settings.port}", proc)

        def both() -> list[int]:
            pids = listening_workers(settings.port)
            return pids if len(pids) == 2 else []

        workers = eventually(both, "both workers listening")
        proc.kill()
        proc.wait()
        eventually(
            lambda: not any(running(pid) for pid in workers),
            "the workers gone",
        )
        assert "0A" not in [state for state, _ in tcp_sockets(settings.port)]
        assert log.read_text().count("the main process of ots serve is gone") == 2
        # A restart on the same address serves alone: its two workers, nobody else's.
        with running_server(settings, tmp_path / "restarted.log"):
            restarted = eventually(both, "the new workers listening")
            assert not set(workers) & set(restarted)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
