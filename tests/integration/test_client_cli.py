"""`ots share|reveal|status|receipt|burn` end to end against a real server, on both databases."""

from __future__ import annotations

import asyncio
import fcntl
import http.server
import json
import os
import pty
import re
import select
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ots import client_cli
from ots.client import AsyncClient, Client, InvalidLink, NotFound, WrongPassphrase
from tests.support import free_port, make_settings, running_server

pytestmark = pytest.mark.slow

# Text that survives only if nothing on the way strips, re-encodes or adds a byte.
TRICKY = "line one\r\n\ttab, NUL \x00, é, 😀, zero-width \u200b\n\n\n"


@pytest.fixture(scope="module")
def server(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on the module's database."""
    settings = make_settings(migrated_db, port=free_port())
    log = tmp_path_factory.mktemp("client") / "server.log"
    with running_server(settings, log) as base:
        yield base


def ots(
    *args: str, server: str, stdin: bytes = b"", tty: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run `ots ARGS` against ``server``, with no terminal unless ``tty``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        input=stdin,
        env={**env, "OTS_URL": server},
        capture_output=True,
        timeout=60,
        check=False,
        # A new session has no controlling terminal: the passphrase prompt must refuse.
        start_new_session=not tty,
    )


def share(server: str, secret: bytes, passphrase_file: Path, *more: str) -> dict[str, Any]:
    """Share ``secret`` with --json; return the printed object."""
    result = ots(
        "share",
        "--json",
        "--passphrase-file",
        str(passphrase_file),
        *more,
        server=server,
        stdin=secret,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def passphrase(tmp_path: Path) -> Path:
    """A passphrase file as `echo` writes it (one trailing newline, not part of it)."""
    path = tmp_path / "passphrase"
    path.write_text("correct horse\n")
    return path


def test_share_status_reveal_receipt_burn(server: str, passphrase: Path, tmp_path: Path) -> None:
    """The whole life of two secrets through the CLI, with the documented exit codes."""
    created = share(server, TRICKY.encode(), passphrase, "--ttl", "600")
    assert set(created) == {"link", "secret_key", "receipt_key", "expires_at"}
    status = ots("status", created["secret_key"], "--json", server=server)
    assert status.returncode == 0
    assert json.loads(status.stdout)["attempts_left"] == 5
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    failed = ots("reveal", created["secret_key"], "--passphrase-file", str(wrong), server=server)
    assert failed.returncode == client_cli.EXIT_WRONG_PASSPHRASE
    assert failed.stdout == b""
    assert failed.stderr == b"ots: The passphrase is wrong. (4 attempts left)\n"
    revealed = ots(
        "reveal", created["secret_key"], "--passphrase-file", str(passphrase), server=server
    )
    assert (revealed.returncode, revealed.stdout, revealed.stderr) == (0, TRICKY.encode(), b"")
    again = ots(
        "reveal", created["secret_key"], "--passphrase-file", str(passphrase), server=server
    )
    assert again.returncode == client_cli.EXIT_NOT_FOUND
    receipt = ots("receipt", created["receipt_key"], "--json", server=server)
    assert json.loads(receipt.stdout)["state"] == "revealed"
    assert json.loads(receipt.stdout)["failed_attempts"] == 1
    # `ots status` above was the first check of the link.
    assert json.loads(receipt.stdout)["opened_at"].endswith("Z")
    shown = ots("receipt", created["receipt_key"], server=server).stdout.decode()
    assert re.search(r"^opened_at +\d{4}-\d\d-\d\dT", shown, re.MULTILINE), shown
    burned_late = ots("burn", created["receipt_key"], "--json", server=server)
    assert burned_late.returncode == client_cli.EXIT_NOT_FOUND
    assert json.loads(burned_late.stdout) == {
        "error": "not_pending",
        "message": "The secret is no longer pending.",
        "state": "revealed",
    }
    other = share(server, b"burn me", passphrase)
    burned = ots("burn", other["receipt_key"], server=server)
    assert (burned.returncode, burned.stdout) == (0, b"state  burned\n")
    gone = ots("status", other["secret_key"], server=server)
    assert gone.returncode == client_cli.EXIT_NOT_FOUND


def test_generated_passphrase_and_file_input(server: str, tmp_path: Path) -> None:
    """--generate-passphrase prints a strong passphrase; --file reads the secret from a file."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"from a file\n")
    result = ots("share", "--file", str(secret), "--generate-passphrase", server=server)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(None, 1) for line in result.stdout.decode().splitlines())
    assert set(fields) == {"link", "secret_key", "receipt_key", "expires_at", "passphrase"}
    assert len(fields["passphrase"]) >= 22
    (tmp_path / "pp").write_text(fields["passphrase"])
    revealed = ots(
        "reveal",
        fields["secret_key"],
        "--passphrase-file",
        str(tmp_path / "pp"),
        "--json",
        server=server,
    )
    assert json.loads(revealed.stdout) == {"secret": "from a file\n"}


USAGE = {
    "not-utf8": (["share", "--generate-passphrase"], b"\xff\xfe", "the secret must be UTF-8 text"),
    "empty-secret": (["share", "--generate-passphrase"], b"", "secret must not be empty"),
    "ttl-out-of-range": (
        ["share", "--generate-passphrase", "--ttl", "999999999"],
        b"s",
        "ttl must be",
    ),
    "no-terminal": (["share"], b"s", "no terminal to ask for the passphrase"),
    "notify-refused": (
        ["share", "--generate-passphrase", "--notify", "http://127.0.0.1:9/hook"],
        b"s",
        "notify.url",
    ),
    "notify-event-alone": (
        ["share", "--generate-passphrase", "--notify-event", "revealed"],
        b"s",
        "--notify-event needs --notify",
    ),
    "missing-file": (
        ["share", "--file", "/nonexistent/x", "--generate-passphrase"],
        b"",
        "cannot read",
    ),
    "with-passphrase-unsealed": (["share", "--with-passphrase"], b"s", "goes with --sealed"),
    "sealed-no-terminal": (["share", "--sealed", "--with-passphrase"], b"s", "no terminal"),
    "sealed-empty": (["share", "--sealed"], b"", "the secret must not be empty"),
    "link-cut-short": (
        ["reveal", f"http://127.0.0.1:9/secrets/{'k' * 32}#v1.AAAA"],
        b"",
        "was it cut short?",
    ),
    "link-not-secrets": (
        ["reveal", f"https://example.org/receipts/{'k' * 32}#v1.x"],
        b"",
        "that is a receipt link",
    ),
    # Input that is not a key or a link of the command's kind never reaches a server.
    "status-receipt-link": (
        ["status", f"http://127.0.0.1:9/receipts/{'k' * 32}"],
        b"",
        "that is a receipt link",
    ),
    "burn-secret-link": (
        ["burn", f"http://127.0.0.1:9/secrets/{'k' * 32}"],
        b"",
        "that is a secret's link",
    ),
    "receipt-sealed-link": (
        ["receipt", f"http://127.0.0.1:9/secrets/{'k' * 32}#v1.{'A' * 43}"],
        b"",
        "that is a secret's link",
    ),
    "status-short-key": (["status", "abc"], b"", "neither a secret_key"),
    "receipt-not-a-key": (["receipt", "not a key"], b"", "neither a receipt_key"),
    "burn-no-scheme": (["burn", f"example.org/receipts/{'k' * 32}"], b"", "starts with https://"),
    "status-key-cut-short": (
        ["status", "http://127.0.0.1:9/secrets/kkkk"],
        b"",
        "was the link cut short?",
    ),
    "status-user-before-host": (
        ["status", f"http://127.0.0.1:9@evil.example/secrets/{'k' * 32}"],
        b"",
        "no user name or password",
    ),
    # A link to a server that is not the user's, without a terminal to ask: refused, unsent.
    "reveal-other-host": (
        ["reveal", f"https://evil.example/secrets/{'k' * 32}#v1.{'A' * 43}"],
        b"",
        "the link points to evil.example, not to your server 127.0.0.1:",
    ),
    "status-other-host": (
        ["status", f"https://evil.example/secrets/{'k' * 32}"],
        b"",
        "add --yes to send the request there anyway",
    ),
    "receipt-other-host": (["receipt", f"https://evil.example/receipts/{'k' * 32}"], b"", "--yes"),
    "burn-plain-http": (
        ["burn", f"http://192.0.2.1/receipts/{'k' * 32}", "--url", "http://192.0.2.1"],
        b"",
        "plain HTTP to 192.0.2.1",
    ),
}


@pytest.mark.parametrize(("args", "stdin", "said"), USAGE.values(), ids=USAGE.keys())
def test_usage_errors_exit_2_with_one_line(
    server: str, args: list[str], stdin: bytes, said: str
) -> None:
    """What the user got wrong exits 2 and says so in one line, printing nothing on stdout."""
    result = ots(*args, server=server, stdin=stdin)
    assert result.returncode == client_cli.EXIT_USAGE
    assert result.stdout == b""
    assert said in result.stderr.decode()
    assert result.stderr.decode().count("\n") == 1
    assert "no such secret" not in result.stderr.decode()


def test_share_with_a_webhook(db_url: str, tmp_path: Path, passphrase: Path) -> None:
    """--notify prints the webhook_secret; the receipt then shows the subscription."""
    settings = make_settings(
        db_url, port=free_port(), webhook_allow_private=True, webhook_allow_http=True
    )
    with running_server(settings, tmp_path / "server.log") as base:
        fields = share(
            base,
            b"s",
            passphrase,
            "--notify",
            "http://127.0.0.1:9/hook",
            "--notify-event",
            "burned",
        )
        assert fields["webhook_secret"].startswith("whsec_")
        receipt = ots("receipt", fields["receipt_key"], server=base)
    text = receipt.stdout.decode()
    assert receipt.returncode == 0
    assert '"events": ["burned"]' in text.splitlines()[-1]


def test_no_server_is_retry_later(tmp_path: Path) -> None:
    """An unreachable server exits 4, as a script should retry later."""
    result = ots("status", "x" * 32, "--json", server=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == client_cli.EXIT_RETRY_LATER
    assert json.loads(result.stdout)["error"] == "no_answer"


def test_rate_limited_is_retry_later(migrated_db: str, tmp_path: Path) -> None:
    """A 429 (after the client's own bounded retries) exits 4 and names the wait."""
    settings = make_settings(migrated_db, port=free_port(), rate_limit="1/minute")
    with running_server(settings, tmp_path / "limited.log") as base:
        ots("status", "x" * 32, server=base)
        result = ots("status", "x" * 32, "--json", server=base)
    assert result.returncode == client_cli.EXIT_RETRY_LATER
    assert json.loads(result.stdout)["error"] == "rate_limited"


def test_async_client_against_the_server(server: str) -> None:
    """The async client shares, fails, reveals and reads the receipt through a real server."""

    async def scenario() -> None:
        async with AsyncClient(server) as client:
            shared = await client.generate_secret(TRICKY, "pw", ttl=120)
            with pytest.raises(WrongPassphrase) as caught:
                await client.reveal_secret(shared.secret_key, "no")
            assert caught.value.attempts_left == 4
            assert await client.reveal_secret(shared.secret_key, "pw") == TRICKY
            receipt = await client.get_receipt(shared.receipt_key)
            assert (receipt.state, receipt.failed_attempts) == ("revealed", 1)
            assert receipt.revealed_at is not None
            assert (await client.get_health()).status == "ok"

    asyncio.run(scenario())


def at_terminal(
    *args: str,
    server: str,
    stdin: bytes = b"",
    answers: Sequence[tuple[bytes, str]] = (),
    stdout_on_terminal: bool = False,
) -> tuple[int, bytes, bytes, bytes]:
    """Run `ots ARGS` with a terminal; at each (prompt, text) of ``answers``, type text.

    Returns the exit code, stdout, stderr and what the terminal showed (stdout
    too, when ``stdout_on_terminal``).
    """
    master, slave = pty.openpty()

    def take_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ots.cli", *args],
        stdin=subprocess.PIPE,
        stdout=slave if stdout_on_terminal else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "OTS_URL": server},
        preexec_fn=take_terminal,
        pass_fds=(slave,),
    )
    os.close(slave)
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None
    screen = b""

    def read_screen() -> bool:
        nonlocal screen
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, f"nothing on the terminal; it shows {screen!r}"
        try:
            chunk = os.read(master, 1024)
        except OSError:  # EIO: every end of the terminal is closed
            return False
        screen += chunk
        return bool(chunk)

    for number, (prompt, text) in enumerate(answers):
        # Type only once asked: getpass flushes what was typed before its prompt.
        times = [asked for asked, _ in answers[: number + 1]].count(prompt)
        while screen.count(prompt) < times:
            assert read_screen(), f"no prompt {prompt!r}; the terminal shows {screen!r}"
        os.write(master, text.encode() + b"\n")
    out, err = proc.communicate(timeout=30)
    if stdout_on_terminal:
        while read_screen():
            pass
    os.close(master)
    return proc.returncode, out or b"", err, screen


def ots_at_terminal(*args: str, server: str, stdin: bytes, typed: list[str]) -> tuple[int, bytes]:
    """Run `ots ARGS` with a terminal that types each of ``typed`` at a passphrase prompt."""
    code, out, _, _ = at_terminal(
        *args, server=server, stdin=stdin, answers=[(b"Passphrase", text) for text in typed]
    )
    return code, out


def test_passphrase_prompts(server: str) -> None:
    """`ots share` asks twice at the terminal (two answers must agree); `reveal` once."""
    code, out = ots_at_terminal(
        "share", "--json", server=server, stdin=b"typed", typed=["s3cret pass", "s3cret pass"]
    )
    assert code == 0
    key = json.loads(out)["secret_key"]
    code, out = ots_at_terminal("share", server=server, stdin=b"typed", typed=["one", "two"])
    assert (code, out) == (client_cli.EXIT_USAGE, b"")
    code, out = ots_at_terminal("reveal", key, server=server, stdin=b"", typed=["s3cret pass"])
    assert (code, out) == (0, b"typed")


def test_sealed_share_and_reveal(server: str, passphrase: Path, tmp_path: Path) -> None:
    """--sealed prints one link; `reveal LINK` writes the exact bytes, binary included, once."""
    binary = bytes(range(256)) + TRICKY.encode()
    result = ots("share", "--sealed", "--json", "--ttl", "600", server=server, stdin=binary)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"link", "secret_key", "receipt_key", "expires_at"}
    link = created["link"]
    assert link.startswith(f"{server}/secrets/{created['secret_key']}#v1.")
    # The link names its server: with OTS_URL pointing elsewhere, it takes a yes to go there.
    elsewhere = f"http://127.0.0.1:{free_port()}"
    status = ots("status", link, "--json", server=server)
    assert json.loads(status.stdout)["attempts_left"] == 5
    refused = ots("reveal", link, server=elsewhere)
    assert (refused.returncode, refused.stdout) == (client_cli.EXIT_USAGE, b"")
    revealed = ots("reveal", link, "--yes", server=elsewhere)
    assert (revealed.returncode, revealed.stdout, revealed.stderr) == (0, binary, b"")
    again = ots("reveal", link, "-y", server=elsewhere)
    assert again.returncode == client_cli.EXIT_NOT_FOUND
    receipt = ots("receipt", created["receipt_key"], "--json", server=server)
    assert json.loads(receipt.stdout)["state"] == "revealed"
    as_json = ots("share", "--sealed", "--json", server=server, stdin=b"\xff\x00")
    shown = ots("reveal", json.loads(as_json.stdout)["link"], "--json", server=server)
    assert json.loads(shown.stdout) == {"secret_base64url": "_wA"}


def test_sealed_with_a_passphrase(server: str, passphrase: Path, tmp_path: Path) -> None:
    """A passphrase link needs it: a wrong one exits 3 and counts; the right one still works."""
    result = ots(
        "share", "--sealed", "--passphrase-file", str(passphrase), server=server, stdin=b"pp"
    )
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(None, 1) for line in result.stdout.decode().splitlines())
    assert set(fields) == {"link", "secret_key", "receipt_key", "expires_at"}
    assert fields["link"].endswith(".p")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    failed = ots("reveal", fields["link"], "--passphrase-file", str(wrong), server=server)
    assert failed.returncode == client_cli.EXIT_WRONG_PASSPHRASE
    assert failed.stderr == b"ots: The passphrase or the link is wrong. (4 attempts left)\n"
    no_terminal = ots("reveal", fields["link"], server=server)
    assert no_terminal.returncode == client_cli.EXIT_USAGE
    revealed = ots(
        "reveal", fields["link"], "--passphrase-file", str(passphrase), "--json", server=server
    )
    assert json.loads(revealed.stdout) == {"secret": "pp"}
    generated = ots(
        "share", "--sealed", "--generate-passphrase", "--json", server=server, stdin=b"g"
    )
    made = json.loads(generated.stdout)
    assert made["link"].endswith(".p")
    (tmp_path / "made").write_text(made["passphrase"])
    back = ots("reveal", made["link"], "--passphrase-file", str(tmp_path / "made"), server=server)
    assert back.stdout == b"g"


def test_sealed_with_the_python_clients(server: str) -> None:
    """Client and AsyncClient seal, reveal once and refuse a link without its passphrase."""
    with Client(server) as client:
        shared = client.generate_sealed_secret("text é", ttl=120)
        assert client.check_secret(shared.secret_key).attempts_left == 5
        assert client.reveal_sealed_secret(shared.link) == "text é".encode()
        with pytest.raises(NotFound):
            client.reveal_sealed_secret(shared.link)
        guarded = client.generate_sealed_secret(b"\x00", "pw")
        with pytest.raises(InvalidLink):
            client.reveal_sealed_secret(guarded.link)
        with pytest.raises(InvalidLink):
            client.reveal_sealed_secret(guarded.secret_key, "pw")

    async def scenario() -> None:
        async with AsyncClient(server) as client:
            with pytest.raises(WrongPassphrase) as caught:
                await client.reveal_sealed_secret(guarded.link, "PW")
            assert caught.value.attempts_left == 4
            assert await client.reveal_sealed_secret(guarded.link, "pw") == b"\x00"
            shared = await client.generate_sealed_secret(b"async", "pw2")
            assert await client.reveal_sealed_secret(shared.link, "pw2") == b"async"
            receipt = await client.get_receipt(guarded.receipt_key)
            assert (receipt.state, receipt.failed_attempts) == ("revealed", 1)

    asyncio.run(scenario())


def test_sealed_passphrase_prompt(server: str) -> None:
    """`share --sealed --with-passphrase` asks twice; `reveal LINK` asks once, for a .p link."""
    code, out = ots_at_terminal(
        "share",
        "--sealed",
        "--with-passphrase",
        "--json",
        server=server,
        stdin=b"typed",
        typed=["s3cret pass", "s3cret pass"],
    )
    assert code == 0
    link = json.loads(out)["link"]
    code, out = ots_at_terminal("reveal", link, server=server, stdin=b"", typed=["s3cret pass"])
    assert (code, out) == (0, b"typed")


def test_every_link_of_a_passphrase_secret_works(server: str, passphrase: Path) -> None:
    """`share` prints the link; status, reveal, receipt and burn take it and its variants."""
    created = share(server, b"via its link", passphrase)
    link = created["link"]
    assert link == f"{server}/secrets/{created['secret_key']}"
    for variant in (link, f"{link}/", f"{link}?utm_source=chat", f"{link}#"):
        status = ots("status", variant, "--json", server=server)
        assert (status.returncode, json.loads(status.stdout)["state"]) == (0, "pending"), variant
    receipt_link = f"{server}/receipts/{created['receipt_key']}"
    receipt = ots("receipt", f"{receipt_link}/", "--json", server=server)
    assert json.loads(receipt.stdout)["state"] == "pending"
    revealed = ots("reveal", f"{link}/?x=1", "--passphrase-file", str(passphrase), server=server)
    assert (revealed.returncode, revealed.stdout) == (0, b"via its link")
    other = share(server, b"burn me", passphrase)
    text = ots("share", "--passphrase-file", str(passphrase), server=server, stdin=b"t")
    assert text.stdout.decode().splitlines()[0].split() == [
        "link",
        f"{server}/secrets/{text.stdout.decode().split()[3]}",
    ]
    burned = ots("burn", f"{server}/receipts/{other['receipt_key']}", server=server)
    assert (burned.returncode, burned.stdout) == (0, b"state  burned\n")
    assert ots("status", other["link"], server=server).returncode == client_cli.EXIT_NOT_FOUND


def test_every_link_of_a_sealed_secret_works(server: str, passphrase: Path) -> None:
    """A pending sealed link answers `status`; a .p link and a trailing slash reveal it."""
    result = ots(
        "share", "--sealed", "--passphrase-file", str(passphrase), server=server, stdin=b"sealed"
    )
    fields = dict(line.split(None, 1) for line in result.stdout.decode().splitlines())
    link = fields["link"]
    status = ots("status", link, "--json", server=server)
    assert (status.returncode, json.loads(status.stdout)["attempts_left"]) == (0, 5)
    # Its URL without the key after '#' is not enough, and says so; nothing is counted.
    cut = ots("reveal", link.split("#")[0], "--passphrase-file", str(passphrase), server=server)
    assert cut.returncode == client_cli.EXIT_USAGE
    assert "It is sealed: its link, with the part after '#', reveals it." in cut.stderr.decode()
    slashed = link.replace("#", "/?utm_source=chat#")
    revealed = ots("reveal", slashed, "--passphrase-file", str(passphrase), server=server)
    assert (revealed.returncode, revealed.stdout) == (0, b"sealed")
    receipt = ots("receipt", f"{server}/receipts/{fields['receipt_key']}", "--json", server=server)
    assert json.loads(receipt.stdout)["failed_attempts"] == 0


def test_a_link_to_another_server_is_asked_at_the_terminal(server: str, passphrase: Path) -> None:
    """A link to a server that is not OTS_URL: 'n' sends nothing, 'y' goes on to the passphrase."""
    result = ots(
        "share", "--sealed", "--passphrase-file", str(passphrase), server=server, stdin=b"asked"
    )
    link = dict(line.split(None, 1) for line in result.stdout.decode().splitlines())["link"]
    elsewhere = f"http://127.0.0.1:{free_port()}"
    host = server.removeprefix("http://")
    code, out, err, screen = at_terminal(
        "reveal", link, server=elsewhere, answers=[(b"[y/N]", "n")]
    )
    assert (code, out) == (client_cli.EXIT_USAGE, b"")
    assert f"the link points to {host}, not to your server".encode() in screen
    assert f"Send the request to {host} anyway? [y/N]".encode() in screen
    assert err == f"ots: nothing was sent to {host}\n".encode()
    assert ots("status", link, "--json", server=server).returncode == 0
    code, out, err, screen = at_terminal(
        "reveal",
        link,
        server=elsewhere,
        answers=[(b"[y/N]", "y"), (b"Passphrase", "correct horse")],
    )
    assert (code, out, err) == (0, b"asked", b"")


ATTACK = "\x1b]0;owned\x07\x1b[2Jtext\r\u202e"
SHOWN = b"\\x1b]0;owned\\x07\\x1b[2Jtext\\r\\u202e"


def test_a_secret_on_a_terminal_is_shown_escaped(server: str, passphrase: Path) -> None:
    """On a terminal control characters are escaped, with a note; --raw and pipes get the bytes."""
    keys = [share(server, ATTACK.encode(), passphrase)["secret_key"] for _ in range(3)]
    read = ("--passphrase-file", str(passphrase))
    code, _, err, screen = at_terminal(
        "reveal", keys[0], *read, server=server, stdout_on_terminal=True
    )
    assert code == 0
    assert screen == SHOWN
    assert b"\x1b" not in screen
    assert err.startswith(b"ots: the secret holds control characters")
    code, _, err, screen = at_terminal(
        "reveal", keys[1], *read, "--raw", server=server, stdout_on_terminal=True
    )
    assert (code, err) == (0, b"")
    # Exactly the bytes: the secret has no line feed for the terminal to turn into CR LF.
    assert screen == ATTACK.encode()
    piped = ots("reveal", keys[2], *read, server=server)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, ATTACK.encode(), b"")
    clean = share(server, "é\ttab".encode(), passphrase)["secret_key"]
    code, _, err, screen = at_terminal(
        "reveal", clean, *read, server=server, stdout_on_terminal=True
    )
    assert (code, err, screen) == (0, b"", "é\ttab".encode())


HOSTILE = "\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07gone\r\nots: all good \u009b31m"
ESCAPED = "\\x1b[2J\\x1b]52;c;cm0gLXJmIH4=\\x07gone\\r\\nots: all good \\x9b31m"
HOSTILE_ANSWERS: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {
    ("GET", "secrets"): (
        200,
        {"state": HOSTILE, "expires_at": "2026-11-25T11:40:55Z", "attempts_left": 5},
    ),
    ("POST", "secrets"): (
        403,
        {"error": "wrong_passphrase", "message": HOSTILE, "attempts_left": 4},
    ),
    ("GET", "receipts"): (404, {"error": "not_found", "message": HOSTILE}),
    ("POST", "receipts"): (409, {"error": "not_pending", "message": HOSTILE, "state": HOSTILE}),
}


@pytest.fixture
def hostile() -> Iterator[str]:
    """A server that answers as ots does, with text meant to drive the user's terminal."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = HOSTILE_ANSWERS[(self.command, self.path.split("/")[1])]
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            self.do_GET()

        def log_message(self, *args: Any) -> None:
            del args

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_servers_text_never_drives_the_terminal(hostile: str, passphrase: Path) -> None:
    """Messages on stderr, and text-mode results, show a server's control characters escaped."""
    key = "k" * 32
    status = ots("status", key, server=hostile)
    assert status.returncode == 0
    assert status.stdout.decode().splitlines()[0] == f"state          {ESCAPED}"
    wrong = ots("reveal", key, "--passphrase-file", str(passphrase), server=hostile)
    assert wrong.returncode == client_cli.EXIT_WRONG_PASSPHRASE
    assert wrong.stderr.decode() == f"ots: {ESCAPED} (4 attempts left)\n"
    for command in ("receipt", "burn"):
        failed = ots(command, key, server=hostile)
        assert failed.returncode == client_cli.EXIT_NOT_FOUND
        assert failed.stderr.decode() == f"ots: {ESCAPED}\n"
        assert b"\x1b" not in failed.stderr
