"""The README's walkthroughs, pasted into bash against a real server, print what the README says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import README, free_port, make_settings, running_server

pytestmark = pytest.mark.slow

# What differs from run to run: keys and generated passphrases, and times.
_VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<time>"),
    (re.compile(r"[A-Za-z0-9_-]{22,}"), "<random>"),
]


def walkthrough(name: str) -> tuple[str, list[str]]:
    """Return the README block marked ``walkthrough:NAME`` and the output it documents.

    The documented output is the run of comment lines right under a command;
    a comment after a blank line explains, and is not output.
    """
    text = README.read_text()
    start = text.index(f"<!-- walkthrough:{name}")
    block = text[text.index("```sh\n", start) + 6 : text.index("```\n", start + 1)]
    printed = []
    under_command = False
    for line in block.splitlines():
        if line.startswith("# ") and under_command:
            printed.append(line[2:])
        else:
            under_command = bool(line.strip()) and not line.startswith("#")
    return block, printed


def masked(lines: list[str]) -> list[str]:
    """Replace what differs between runs by placeholders."""
    out = []
    for line in lines:
        for pattern, placeholder in _VARYING:
            line = pattern.sub(placeholder, line)
        out.append(line)
    return out


# How many lines of output each walkthrough documents, at least (a lost marker shows).
WALKTHROUGHS = {"quick": 3, "curl": 9, "cli": 9, "sealed": 9, "request": 12}


@pytest.mark.parametrize(("name", "lines"), WALKTHROUGHS.items(), ids=WALKTHROUGHS.keys())
def test_walkthrough_prints_what_the_readme_shows(
    name: str, lines: int, db_url: str, tmp_path: Path
) -> None:
    """Each line of the walkthrough runs, in order, and prints the documented output."""
    block, expected = walkthrough(name)
    settings = make_settings(db_url, port=free_port())
    with running_server(settings, tmp_path / "server.log") as base:
        script = block.replace("http://127.0.0.1:8080", base).replace("localhost:8080", base)
        # The quick start names the venv's ots; here it is on PATH.
        script = script.replace(".venv/bin/ots", "ots")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env={**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"},
            stdout=subprocess.PIPE,
            # One stream, in the order a terminal would show it.
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
    assert len(expected) >= lines
    # Sealed links name the server they were made on: the README's, in the README.
    printed = result.stdout.replace(base, "http://127.0.0.1:8080")
    assert masked(printed.splitlines()) == masked(expected), result.stdout
