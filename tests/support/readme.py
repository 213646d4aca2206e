"""The README's code for tests: its Python snippets, run as written."""

from __future__ import annotations

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
