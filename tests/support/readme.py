"""The README's code for tests: its Python snippets and server commands, run as written."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


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


def readme_command(name: str, **values: str) -> tuple[dict[str, str], list[str]]:
    """Return the environment and the argv of the README's server command ``command:NAME``.

    The command is the block's line that runs ``uvicorn ots.…`` (backslash
    continuations joined); its leading ``VAR=value`` assignments become the
    environment. ``values`` replace the values of its options
    (``forwarded_allow_ips="127.0.0.1"`` for ``--forwarded-allow-ips``): a
    test runs it on its own host, port and addresses, with every flag as
    written. ``uvicorn`` runs as this interpreter's module.
    """
    text = README.read_text()
    start = text.index(f"<!-- command:{name}")
    begin = text.index("```sh\n", start) + len("```sh\n")
    block = text[begin : text.index("```\n", begin)].replace("\\\n", " ")
    words = shlex.split(next(line for line in block.splitlines() if "uvicorn ots." in line))
    env = {}
    while "=" in words[0] and not words[0].startswith("-"):
        variable, _, value = words.pop(0).partition("=")
        env[variable] = value
    assert words[0] == "uvicorn", words
    argv = [sys.executable, "-m", *words]
    for option, value in values.items():
        flag = "--" + option.replace("_", "-")
        assert flag in argv, f"the README's {name} command has no {flag}"
        argv[argv.index(flag) + 1] = value
    return env, argv
