"""`ots tokens` on the server's side, and the client's `--token`, `ots list`, `ots burn --id`.

A real server in ``token`` mode on each database; the commands run as a user
runs them, in processes of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ots.client import Client, Unauthorized
from ots.config import Settings
from tests.support import empty_database, free_port, make_settings, run_cli, running_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def settings(migrated_db: str) -> Settings:
    """Token mode on the module's database."""
    return make_settings(migrated_db, port=free_port(), create_access="token")


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server in token mode."""
    empty_database(settings.database_url)
    log = tmp_path_factory.mktemp("tokens") / "server.log"
    with running_server(settings, log) as base:
        yield base


def client(*args: str, server: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the client command `ots ARGS` against ``server`` (``token`` in OTS_TOKEN)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    env["OTS_URL"] = server
    if token is not None:
        env["OTS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "ots.cli", *args],
        input="the secret",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,
    )


def tokens(settings: Settings, *args: str) -> Any:
    """Run `ots tokens ARGS --json` on the server's side; return its JSON."""
    done = run_cli(settings, "tokens", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_token_from_add_to_revoke(settings: Settings, server: str, tmp_path: Path) -> None:
    """Add prints the token once; share needs it; list, burn --id; revoke ends it."""
    added = tokens(settings, "add", "deploy bot", "--rate-limit", "100/hour")
    assert set(added) == {"id", "name", "token", "expires_at"}
    assert added["token"].startswith(f"ots_{added['id']}_") and added["expires_at"] is None
    token = added["token"]
    passphrase = tmp_path / "pass"
    passphrase.write_text("pw\n")
    share = ("share", "--passphrase-file", str(passphrase), "--json")

    refused = client(*share, server=server)
    assert refused.returncode == 2 and json.loads(refused.stdout)["error"] == "unauthorized"
    made = client(*share, server=server, token=token)
    assert made.returncode == 0, made.stderr
    flag = client(*share, "--token", token, server=server)
    assert flag.returncode == 0, flag.stderr

    listed = client("list", "--json", server=server, token=token)
    entries = json.loads(listed.stdout)["secrets"]
    assert [e["state"] for e in entries] == ["pending", "pending"]
    assert token not in listed.stdout
    burned = client("burn", "--id", str(entries[0]["id"]), server=server, token=token)
    assert burned.returncode == 0, burned.stderr
    again = client("burn", "--id", str(entries[0]["id"]), server=server, token=token)
    assert again.returncode == 1
    text = client("list", server=server, token=token)
    assert text.returncode == 0 and "burned" in text.stdout and "pending" in text.stdout
    both = client("burn", "--id", "1", "somekey", server=server, token=token)
    assert both.returncode == 2
    bad = run_cli(settings, "tokens", "add", "ci", "--rate-limit", "lots")
    assert bad.returncode == 2 and bad.stderr.startswith("ots: --rate-limit")

    shown = tokens(settings, "list")["tokens"]
    assert [(t["name"], t["state"], t["rate_limit"]) for t in shown] == [
        ("deploy bot", "active", "100/hour")
    ]
    assert shown[0]["last_used_at"] is not None
    assert token not in json.dumps(shown)
    assert tokens(settings, "revoke", str(added["id"])) == {"id": added["id"], "revoked": True}
    gone = run_cli(settings, "tokens", "revoke", str(added["id"]))
    assert gone.returncode == 1 and "no token" in gone.stderr
    assert client(*share, server=server, token=token).returncode == 2
    assert tokens(settings, "list")["tokens"][0]["state"] == "revoked"


def test_the_python_client_sends_its_token_where_it_goes(settings: Settings, server: str) -> None:
    """Client(token=...) creates and lists; without it, Unauthorized; reveals need none."""
    token = tokens(settings, "add", "python")["token"]
    with Client(server, token=token) as holder, Client(server, token="") as anyone:
        shared = holder.generate_secret("hello", "pw")
        page = holder.list_secrets(limit=10)
        assert page.next is None and page.secrets[0].state == "pending"
        with pytest.raises(Unauthorized):
            anyone.generate_secret("hello", "pw")
        with pytest.raises(Unauthorized):
            anyone.list_secrets()
        assert anyone.reveal_secret(shared.secret_key, "pw") == "hello"
        assert holder.list_secrets().secrets[0].state == "revealed"
        second = holder.generate_secret("bye", "pw")
        holder.burn_listed(holder.list_secrets().secrets[0].id)
        assert anyone.get_receipt(second.receipt_key).state == "burned"
