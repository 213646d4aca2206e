r"""What the CLI shows on a terminal: text that cannot drive it, and a yes-or-no question.

A secret, or any text from a server, may hold bytes a terminal obeys rather
than shows: ESC sequences that retitle the window, move the cursor, rewrite
lines or set the clipboard; a CR that prints over what came before; bidi
overrides that show characters in another order than they are. ``escaped``
writes each of them as a visible escape (``\x1b``, ``\r``, ``\u202e``).
"""

from __future__ import annotations

import io
import os
import unicodedata
from typing import Final

# Bidi embeddings, overrides, isolates and marks (Unicode TR9): they reorder what is shown.
BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Kept in a secret shown on a terminal: multi-line secrets (keys, certificates) stay readable.
LAYOUT: Final = "\n\t"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def needs_escape(char: str) -> bool:
    """Tell whether a terminal would act on ``char`` (C0, DEL, C1, bidi control)."""
    return unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS


def escaped(text: str, keep: str = "") -> str:
    """Return ``text`` with every control character but those in ``keep`` escaped."""
    return "".join(
        _escape(char) if needs_escape(char) and char not in keep else char for char in text
    )


def shown(data: bytes) -> tuple[str, bool]:
    r"""Return bytes as safe terminal text, and whether anything had to be escaped.

    Line feeds and tabs are kept; bytes that are not UTF-8 become ``\xNN``.
    """
    safe = escaped(data.decode("utf-8", "backslashreplace"), keep=LAYOUT)
    return safe, safe.encode("utf-8") != data


def ask(question: str) -> bool | None:
    """Ask a yes-or-no question on the terminal; None when there is no terminal.

    The terminal itself is used, as for a passphrase: stdin and stdout may be
    pipes that carry a secret, and a question there would mix with it. Only
    ``y`` or ``yes`` is a yes.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    with io.TextIOWrapper(io.FileIO(fd, "r+"), encoding="utf-8", errors="replace") as tty:
        tty.write(question)
        tty.flush()
        answer = tty.readline()
    return answer.strip().lower() in ("y", "yes")
