"""The served spec, tried by tools nobody here wrote: schemathesis and openapi-python-client."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from ots.config import Settings
from tests.support import free_port, make_settings, running_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The one hook: valid cases carry no webhook URL (which no schema can make acceptable; see there).
HOOKS = "tests.schemathesis_hooks"
# The links of generate_secret's answer (to reveal, check, the receipt and its burn) and
# of create_request's (to the request's status and its answer).
DECLARED_LINKS = 6
BIN = Path(sys.executable).parent
# Bounded for CI (a few seconds per database); the README shows a longer run.
MAX_EXAMPLES = "40"


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A real one-worker server on the test's database, on the defaults but one.

    The rate limit is out of reach: schemathesis sends hundreds of requests a
    minute from one address, which the default limit rightly refuses (429).
    The TTL range and the webhook rules are the defaults (the test settings'
    cheap argon2 and key file change no answer).
    """
    settings = make_settings(
        db_url, port=free_port(), rate_limit="1000000/minute", min_ttl=Settings().min_ttl
    )
    with running_server(settings, tmp_path / "server.log") as base:
        yield base


def test_schemathesis_finds_nothing(server: str, tmp_path: Path) -> None:
    """Every check of schemathesis, stateful phase over the links included, passes."""
    result = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "--no-color",
            "run",
            f"{server}/docs/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # Every link the document declares was followed (schemathesis may infer more, e.g.
    # into a token holder's list, which it cannot reach without a token).
    covered = re.search(r"API Links:\s+(\d+) covered", result.stdout)
    assert covered is not None and int(covered[1]) == DECLARED_LINKS, result.stdout[-3000:]


def generate_client(spec: dict[str, Any], directory: Path) -> tuple[ModuleType, str]:
    """Generate a client package from ``spec`` into ``directory``; return it and the output."""
    (directory / "spec.json").write_text(json.dumps(spec))
    # No post hooks: the generated code is imported, not formatted.
    (directory / "config.yaml").write_text("post_hooks: []\n")
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            "spec.json",
            "--meta",
            "none",
            "--output-path",
            "ots_generated",
            "--config",
            "config.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=directory,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module("ots_generated"), result.stdout + result.stderr
    finally:
        sys.path.remove(str(directory))


@pytest.fixture
def generated(server: str, tmp_path: Path) -> Iterator[tuple[ModuleType, str, dict[str, Any]]]:
    """A client generated from the served spec, its generator's output, and the spec."""
    spec = httpx.get(f"{server}/docs/openapi.json").json()
    package, output = generate_client(spec, tmp_path)
    yield package, output, spec
    for name in [name for name in sys.modules if name.startswith("ots_generated")]:
        del sys.modules[name]


def test_generated_client_keeps_every_answer(
    generated: tuple[ModuleType, str, dict[str, Any]],
) -> None:
    """openapi-python-client warns of nothing, and parses every documented answer's example."""
    package, output, spec = generated
    assert "Warning" not in output
    for methods in spec["paths"].values():
        for operation in methods.values():
            module = importlib.import_module(
                f"ots_generated.api.{operation['tags'][0]}.{operation['operationId']}"
            )
            for status, answer in operation["responses"].items():
                media = answer["content"]["application/json"]
                # Either mode's answer (a oneOf) parses as its own model.
                for variant in media["schema"].get("oneOf", [media["schema"]]):
                    name = variant["$ref"].rsplit("/", 1)[-1]
                    schema = spec["components"]["schemas"][name]
                    body = media.get("example", schema.get("example"))
                    response = httpx.Response(int(status), json=body)
                    parsed = module._parse_response(
                        client=package.Client("http://x"), response=response
                    )
                    assert type(parsed).__name__ == name, (operation["operationId"], status)
                    # The generated models write UTC as +00:00 where ots writes Z.
                    written = json.dumps(parsed.to_dict()).replace("+00:00", "Z")
                    assert json.loads(written) == body


def test_generated_client_drives_a_real_server(
    generated: tuple[ModuleType, str, dict[str, Any]], server: str
) -> None:
    """The generated client shares, checks, fails, reveals and burns through a real server."""
    package = generated[0]
    models = importlib.import_module("ots_generated.models")
    api = {
        name: importlib.import_module(f"ots_generated.api.{tag}.{name}")
        for tag, name in [
            ("secrets", "generate_secret"),
            ("secrets", "check_secret"),
            ("secrets", "reveal_secret"),
            ("receipts", "get_receipt"),
            ("receipts", "burn_secret"),
        ]
    }
    client = package.Client(server)
    created = api["generate_secret"].sync(
        client=client, body=models.GenerateRequest(secret="s3", passphrase="pw", ttl=600)
    )
    assert isinstance(created, models.GenerateResponse)
    status = api["check_secret"].sync(created.secret_key, client=client)
    assert isinstance(status, models.StatusResponse)
    assert status.attempts_left == 5
    wrong = api["reveal_secret"].sync_detailed(
        created.secret_key, client=client, body=models.RevealRequest(passphrase="no")
    )
    assert (wrong.status_code, wrong.parsed.error, wrong.parsed.attempts_left) == (
        403,
        "wrong_passphrase",
        4,
    )
    body = models.RevealRequest(passphrase="pw")
    revealed = api["reveal_secret"].sync(created.secret_key, client=client, body=body)
    assert revealed.secret == "s3"
    again = api["reveal_secret"].sync_detailed(created.secret_key, client=client, body=body)
    assert (again.status_code, again.parsed.error) == (404, "not_found")
    receipt = api["get_receipt"].sync(created.receipt_key, client=client)
    assert (receipt.state.value, receipt.failed_attempts) == ("revealed", 1)
    burn = api["burn_secret"].sync_detailed(created.receipt_key, client=client)
    assert (burn.status_code, burn.parsed.state.value) == (409, "revealed")
