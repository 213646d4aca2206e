"""Text for a terminal: every character a terminal would obey is shown as an escape."""

from __future__ import annotations

import pytest

from ots import terminal

SHOWN = {
    "plain": (b"db password: hunter2", "db password: hunter2", False),
    "lines-and-tabs-kept": (b"a\n\tb\n", "a\n\tb\n", False),
    "non-ascii-kept": ("é 😀 zero\u200bwidth".encode(), "é 😀 zero\u200bwidth", False),
    "backslash-kept": (b"C:\\x1b", "C:\\x1b", False),
    "escape-sequence": (b"\x1b]0;owned\x07", "\\x1b]0;owned\\x07", True),
    "clear-screen": (b"\x1b[2J", "\\x1b[2J", True),
    "carriage-return": (b"visible\rhidden", "visible\\rhidden", True),
    "nul-and-del": (b"\x00\x7f", "\\x00\\x7f", True),
    "c1-csi": ("\u009b31m".encode(), "\\x9b31m", True),
    "bidi-override": ("abc\u202edef".encode(), "abc\\u202edef", True),
    "bidi-isolate": ("\u2066x\u2069".encode(), "\\u2066x\\u2069", True),
    "not-utf8": (b"\xff\xfe", "\\xff\\xfe", True),
    "raw-c1-byte": (b"\x9b", "\\x9b", True),
}


@pytest.mark.parametrize(("data", "text", "changed"), SHOWN.values(), ids=SHOWN.keys())
def test_shown_escapes_what_a_terminal_obeys(data: bytes, text: str, changed: bool) -> None:
    """Control characters (C0 but LF and tab, DEL, C1, bidi) and non-UTF-8 bytes are escaped."""
    assert terminal.shown(data) == (text, changed)


def test_escaped_messages_are_one_line() -> None:
    """A message keeps no line break nor tab: it stays one line of stderr."""
    assert terminal.escaped("gone.\n\x1b[1Aots: fine\t") == "gone.\\n\\x1b[1Aots: fine\\t"
